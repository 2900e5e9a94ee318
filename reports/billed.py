"""The billing report's figures, read from reports.models.BilledCell and BilledLine (a period's
issued invoices summed by category and zone, their lines by category and kind; defined in
reports.refresh): a period's invoices, m³ and KES by category and by tariff line kind, the share
billed on estimates, and the trend of billed KES and m³ over the months before it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from billing.models import InvoiceLine
from payments.selectors import ZERO, add_months, period_first, period_of
from reports.models import BilledCell, BilledLine

M3_ZERO = Decimal("0.000")
KINDS = tuple(InvoiceLine.Kind)  # the order the page lists line kinds in


@dataclass
class CategoryRow:
    name: str
    invoices: int
    consumption: Decimal
    total: Decimal
    estimated_invoices: int
    estimated_consumption: Decimal


@dataclass
class KindRow:
    kind: str
    lines: int
    amount: Decimal

    @property
    def label(self) -> str:
        return str(InvoiceLine.Kind(self.kind).label) if self.kind in InvoiceLine.Kind.values else self.kind


@dataclass
class Share:
    """Estimated against actual for one basis (invoices or m³)."""

    basis: str
    estimated: Decimal
    total: Decimal

    @property
    def actual(self) -> Decimal:
        return self.total - self.estimated

    @property
    def ratio(self) -> Decimal | None:
        """estimated / total, 4 decimals (None when nothing was billed)."""
        return (self.estimated / self.total).quantize(Decimal("0.0001")) if self.total else None


@dataclass
class PeriodBilling:
    period: str
    categories: list[CategoryRow]
    kinds: list[KindRow]

    def _sum(self, attr: str, zero: Decimal | int) -> Decimal | int:
        return sum((getattr(c, attr) for c in self.categories), zero)

    @property
    def invoices(self) -> int:
        return int(self._sum("invoices", 0))

    @property
    def consumption(self) -> Decimal:
        return Decimal(self._sum("consumption", M3_ZERO))

    @property
    def total(self) -> Decimal:
        return Decimal(self._sum("total", ZERO))

    @property
    def lines_total(self) -> Decimal:
        return sum((k.amount for k in self.kinds), ZERO)

    @property
    def shares(self) -> list[Share]:
        return [Share("Invoices", Decimal(self._sum("estimated_invoices", 0)), Decimal(self.invoices)),
                Share("Consumption (m³)", Decimal(self._sum("estimated_consumption", M3_ZERO)), self.consumption)]


def period_billing(period: str) -> PeriodBilling:
    """The period's issued invoices by category (biggest bill total first) and their lines by
    kind (two queries)."""
    cells = (BilledCell.objects.filter(period=period).values("category__name")
             .annotate(n=Sum("invoices"), m3=Sum("consumption"), kes=Sum("total"), n_est=Sum("estimated_invoices"),
                       m3_est=Sum("estimated_consumption")).order_by("-kes", "category__name"))
    categories = [CategoryRow(c["category__name"], c["n"], c["m3"], c["kes"], c["n_est"], c["m3_est"]) for c in cells]
    lines = {r["kind"]: r for r in BilledLine.objects.filter(period=period).values("kind")
             .annotate(n=Sum("lines"), kes=Sum("amount")).order_by()}
    known = [KindRow(k, lines[k]["n"], lines[k]["kes"]) for k in KINDS if k in lines]
    other = [KindRow(k, r["n"], r["kes"]) for k, r in sorted(lines.items()) if k not in InvoiceLine.Kind.values]
    return PeriodBilling(period, categories, known + other)


@dataclass
class TrendMonth:
    period: str
    invoices: int
    total: Decimal
    consumption: Decimal

    @property
    def label(self) -> str:
        return period_first(self.period).strftime("%b %Y")


def trend(last: str, months: int = 12) -> list[TrendMonth]:
    """Billed KES and m³ for the `months` periods up to and including `last`, oldest first (one
    query; 0 for a period without bills)."""
    first = add_months(period_first(last), -(months - 1))
    periods = [period_of(add_months(first, i)) for i in range(months)]
    rows = {r["period"]: r for r in BilledCell.objects.filter(period__in=periods).values("period")
            .annotate(n=Sum("invoices"), kes=Sum("total"), m3=Sum("consumption")).order_by()}
    return [TrendMonth(p, rows[p]["n"], rows[p]["kes"], rows[p]["m3"]) if p in rows else TrendMonth(p, 0, ZERO, M3_ZERO)
            for p in periods]
