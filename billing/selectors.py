from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, TypedDict, cast
from urllib.parse import urlencode

from django.db.models import (
    Case,
    CharField,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.expressions import RawSQL, RowRange
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.translation import gettext

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

from billing.fees import deposit_held
from billing.models import Invoice, LedgerEntry, Tariff
from billing.tariffs import Band, TariffTerms
from clients.selectors import name_matches


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
    id: int = 0
    reversed: bool = False
    reversible: bool = False  # a manual adjustment not yet reversed


@dataclass
class Statement:
    client_id: int
    start: date | None
    end: date | None
    previous_balance: Decimal
    lines: list[StatementLine]
    totals: dict[str, Decimal]
    # A deposit paid and held (billing.fees): not part of the balance, returned at closure.
    deposit_held: Decimal = Decimal("0.00")

    @property
    def balance(self) -> Decimal:
        return self.lines[-1].balance if self.lines else self.previous_balance


def statement_range(params: object) -> tuple[date | None, date | None]:
    """The [from, to] days a statement page was asked for (`?from=2026-01-01&to=2026-06-30`);
    a missing or unreadable day means open-ended. The page and its PDF read the same range."""
    days = []
    for name in ("from", "to"):
        raw = str(params.get(name, "") or "").strip()  # type: ignore[attr-defined]
        try:
            days.append(date.fromisoformat(raw) if raw else None)
        except ValueError:
            days.append(None)
    return days[0], days[1]


def statement_range_query(start: date | None, end: date | None) -> str:
    """The range back as a query string, for the statement's PDF link."""
    return urlencode({name: day.isoformat() for name, day in (("from", start), ("to", end)) if day})


def client_balance(client_id: int) -> Decimal:
    """What the client owes (negative: in credit): the sum of its ledger entries."""
    return LedgerEntry.objects.filter(client_id=client_id).aggregate(s=Sum("amount"))["s"] or Decimal("0.00")


def balance_of_client() -> Coalesce:
    """client_balance as an expression, to annotate a list of clients in its own query:
    `Client.objects.annotate(balance=balance_of_client())`."""
    return Coalesce(Subquery(LedgerEntry.objects.filter(client_id=OuterRef("pk")).order_by().values("client_id")
                             .annotate(s=Sum("amount")).values("s")[:1]),
                    Value(Decimal("0.00")), output_field=DecimalField(max_digits=12, decimal_places=2))


def client_overdue(client_id: int, *, today: date | None = None) -> Decimal:
    """What the client still owes on bills past their due date (the invoice list's overdue ones)."""
    return sum((i.balance_due for i in invoices_with_dues(
        Invoice.objects.filter(client_id=client_id, status=Invoice.Status.ISSUED), today=today).filter(state="overdue")
        .only("id", "client_id", "total", "due_date", "status")), Decimal("0.00"))


class _Running(TypedDict):
    is_reversed: bool
    running: Decimal


def client_statement(client_id: int, *, start: date | None = None, end: date | None = None) -> Statement:
    """Entries in [start, end] with a running balance (one query with a window sum), the balance
    brought forward from before `start`, and totals by kind."""
    entries = LedgerEntry.objects.filter(client_id=client_id).annotate(
        is_reversed=Exists(LedgerEntry.objects.filter(reverses=OuterRef("pk"))),
        running=Window(Sum("amount"), order_by=[F("booked_on").asc(), F("id").asc()],
                       frame=RowRange(start=None, end=0)))
    labels = dict(LedgerEntry.Kind.choices)
    lines: list[StatementLine] = []
    previous = Decimal("0.00")
    totals: dict[str, Decimal] = {}
    # The ledger's own queryset class drops the annotations from its type (not from its rows).
    for e in cast("QuerySet[WithAnnotations[LedgerEntry, _Running]]", entries.order_by("booked_on", "id")):
        if start and e.booked_on < start:
            previous = e.running
            continue
        if end and e.booked_on > end:
            break
        lines.append(StatementLine(e.booked_on, e.kind, labels[e.kind], e.reference, e.description, e.amount, e.running,
                                   e.pk, e.is_reversed,
                                   e.kind == LedgerEntry.Kind.ADJUSTMENT and e.invoice_id is None and not e.is_reversed))
        totals[e.kind] = totals.get(e.kind, Decimal("0.00")) + e.amount
    return Statement(client_id, start, end, previous, lines, totals, deposit_held(client_id))


# What is still owed on an issued invoice. Payments and credits settle the oldest debts first,
# so of the client's balance the newest invoices are the unpaid ones: an invoice's balance due
# is the balance left after the invoices newer than it, capped at its own amount after credit
# notes. (Per-invoice payment allocations arrive with payments; this agrees with them.)
_CREDITED_SQL = "coalesce((SELECT sum(cn.amount) FROM billing_creditnote cn WHERE cn.invoice_id = billing_invoice.id), 0)"
_BALANCE_DUE_SQL = f"""
CASE WHEN billing_invoice.status <> 'issued' THEN billing_invoice.total ELSE
least(greatest(billing_invoice.total - {_CREDITED_SQL}, 0),
      greatest(coalesce((SELECT sum(l.amount) FROM billing_ledgerentry l WHERE l.client_id = billing_invoice.client_id), 0)
               - coalesce((SELECT sum(greatest(j.total - coalesce((SELECT sum(cn2.amount) FROM billing_creditnote cn2
                                                                   WHERE cn2.invoice_id = j.id), 0), 0))
                           FROM billing_invoice j WHERE j.client_id = billing_invoice.client_id AND j.status = 'issued'
                             AND (j.due_date, j.id) > (billing_invoice.due_date, billing_invoice.id)), 0), 0))
END"""  # noqa: S608 - a constant: no input in it

INVOICE_STATES = [("draft", "Draft"), ("open", "Open"), ("partial", "Partially paid"), ("overdue", "Overdue"),
                  ("paid", "Paid"), ("void", "Void")]


class InvoiceDues(TypedDict):
    """What invoices_with_dues() adds to each invoice."""

    credited: Decimal
    balance_due: Decimal
    state: str


def invoices_with_dues(qs: QuerySet[Invoice] | None = None, *,
                       today: date | None = None) -> QuerySet[WithAnnotations[Invoice, InvoiceDues]]:
    """Invoices annotated with `credited`, `balance_due` and `state` (draft, open, partially
    paid, overdue, paid, void), which can be filtered on. An overdue invoice is overdue whether
    or not part of it was paid."""
    today = today or timezone.localdate()
    qs = Invoice.objects.all() if qs is None else qs
    return qs.annotate(
        credited=RawSQL(_CREDITED_SQL, [], output_field=DecimalField(max_digits=12, decimal_places=2)),  # noqa: S611 - constant SQL
        balance_due=RawSQL(_BALANCE_DUE_SQL, [], output_field=DecimalField(max_digits=12, decimal_places=2)),  # noqa: S611 - constant SQL
    ).annotate(state=Case(
        When(status=Invoice.Status.DRAFT, then=Value("draft")),
        When(Q(credited__gte=F("total")) & Q(total__gt=0), then=Value("void")),
        When(balance_due__lte=0, then=Value("paid")),
        When(due_date__lt=today, then=Value("overdue")),
        # Something paid, something left (credit notes are not payments).
        When(balance_due__lt=F("total") - F("credited"), then=Value("partial")),
        default=Value("open"), output_field=CharField()))


def _day(day: date | None) -> str:
    return date_format(day, "j M Y") if day else ""  # in the reader's language


def bill_status(invoice: Invoice) -> str:
    """A bill's state as its client reads it (an invoice from invoices_with_dues): "Paid",
    "Partly paid (KES 400.00 of KES 940.00) · due 16 Nov 2026", "Due 16 Nov 2026",
    "Overdue since 16 Nov 2026" (and what was paid of it), "Cancelled (credit note)"."""
    from majismart.money import kes

    state = invoice.state  # type: ignore[attr-defined]
    payable = max(invoice.total - invoice.credited, Decimal("0.00"))  # type: ignore[attr-defined]
    paid = payable - invoice.balance_due  # type: ignore[attr-defined]
    if state == "void":
        return gettext("Cancelled (credit note)")
    if state == "paid":
        return gettext("Paid")
    due = {"paid": kes(paid), "payable": kes(payable), "due": _day(invoice.due_date)}
    if state == "overdue":
        if paid > 0:
            return gettext("Overdue since %(due)s (%(paid)s of %(payable)s paid)") % due
        return gettext("Overdue since %(due)s") % due
    if state == "partial":
        return gettext("Partly paid (%(paid)s of %(payable)s) · due %(due)s") % due
    if state == "draft":
        return gettext("Draft")
    return gettext("Due %(due)s") % due


def invoice_search(*, client: object = "", period: str = "", state: str = "", query: str = "",
                   run: object = "") -> QuerySet[Invoice]:
    qs = invoices_with_dues(Invoice.objects.select_related("client", "category"))
    if str(client).isdigit():
        qs = qs.filter(client_id=int(str(client)))
    if period:
        qs = qs.filter(period=period)
    if str(run).isdigit():
        qs = qs.filter(run_id=int(str(run)))
    if state in dict(INVOICE_STATES):
        qs = qs.filter(state=state)
    query = query.strip()
    if query:
        qs = qs.filter(Q(number__iexact=query) | Q(client__account_number__iexact=query)
                       | name_matches(query, "client__"))
    return qs.order_by("-period", "number", "id")


def run_skipped(run: object) -> list[dict]:
    """A run's skipped clients as its page shows them: the summary keeps ids and account numbers
    only (names are encrypted at rest), so the names are read, decrypted, for the few listed."""
    from clients.models import Client

    groups = list(getattr(run, "summary", {}).get("skipped", []))
    ids = {c["id"] for g in groups for c in g.get("clients", [])}
    names = dict(Client.objects.filter(pk__in=ids).values_list("pk", "full_name")) if ids else {}
    return [{**g, "clients": [{**c, "account": c.get("account", ""), "name": names.get(c["id"], "")}
                              for c in g.get("clients", [])]} for g in groups]
