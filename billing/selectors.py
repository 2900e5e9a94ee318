from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import F, Sum, Window
from django.db.models.expressions import RowRange

from billing.models import LedgerEntry, Tariff
from billing.tariffs import Band, TariffTerms


def tariff_in_force(category_id: int, on: date) -> Tariff | None:
    """The version of a category's tariff in force on `on` (the latest that started by then)."""
    return (Tariff.objects.filter(category_id=category_id, effective_from__lte=on)
            .prefetch_related("blocks").order_by("-effective_from").first())


def terms_of(tariff: Tariff) -> TariffTerms:
    return TariffTerms(
        bands=[Band(up_to=b.up_to, price=b.price) for b in tariff.blocks.all()],
        fixed_charge=tariff.fixed_charge, meter_rent=tariff.meter_rent,
        sewerage_percent=tariff.sewerage_percent, minimum_charge=tariff.minimum_charge)


@dataclass
class StatementLine:
    booked_on: date
    kind: str
    kind_label: str
    reference: str
    description: str
    amount: Decimal
    balance: Decimal


@dataclass
class Statement:
    client_id: int
    start: date | None
    end: date | None
    previous_balance: Decimal
    lines: list[StatementLine]
    totals: dict[str, Decimal]

    @property
    def balance(self) -> Decimal:
        return self.lines[-1].balance if self.lines else self.previous_balance


def client_balance(client_id: int) -> Decimal:
    return LedgerEntry.objects.filter(client_id=client_id).aggregate(s=Sum("amount"))["s"] or Decimal("0.00")


def client_statement(client_id: int, *, start: date | None = None, end: date | None = None) -> Statement:
    """Entries in [start, end] with a running balance (one query with a window sum), the balance
    brought forward from before `start`, and totals by kind."""
    entries = LedgerEntry.objects.filter(client_id=client_id).annotate(
        running=Window(Sum("amount"), order_by=[F("booked_on").asc(), F("id").asc()],
                       frame=RowRange(start=None, end=0)))
    labels = dict(LedgerEntry.Kind.choices)
    lines, previous, totals = [], Decimal("0.00"), {}
    for e in entries.order_by("booked_on", "id"):
        if start and e.booked_on < start:
            previous = e.running
            continue
        if end and e.booked_on > end:
            break
        lines.append(StatementLine(e.booked_on, e.kind, labels[e.kind], e.reference, e.description, e.amount, e.running))
        totals[e.kind] = totals.get(e.kind, Decimal("0.00")) + e.amount
    return Statement(client_id, start, end, previous, lines, totals)
