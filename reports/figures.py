"""Reading the figures (reports.models, made by reports.refresh): money by month, a period's
summary (shared/API.md `GET /reports/summary/`), what is owed and how old it is. The dashboard's
home, the report pages, their exports and the API all read these functions, so a figure is the
same wherever it is shown.

`figures_fresh()` comes first on every page: it brings the figures up to date when something
changed and that takes under INLINE_SECONDS, and otherwise queues the refresh and says how old the
figures shown are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Exists, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from clients.models import Client
from payments.models import Payment
from payments.selectors import (
    COLLECTED_STATUSES,
    ZERO,
    MonthFigures,
    PeriodSummary,
    Unmatched,
    add_months,
    month_first,
    period_first,
    period_of,
)
from reports.models import AgingCell, BilledCell, PaymentDay, Position, Refresh, Stale
from reports.refresh import figures_refresh

INLINE_SECONDS = 0.5  # a refresh quicker than this runs while the page waits
INLINE_CLIENTS = 5000  # before the first refresh: small enough to make the figures at once
REQUEUE_AFTER = timedelta(minutes=10)  # a queued refresh not done by then is queued again
M3_ZERO = Decimal("0.000")


# --- freshness -----------------------------------------------------------------------------------
@dataclass
class Freshness:
    refreshed_at: datetime | None  # when the figures shown were made (None: never yet)
    stale: bool  # something changed since; a refresh is on its way
    seconds: float  # how long the last refresh took

    @property
    def ready(self) -> bool:
        return self.refreshed_at is not None


def _queue_refresh() -> None:
    """Queue a refresh unless one was queued lately (at most one waits per provider)."""
    from reports.tasks import refresh_figures

    now = timezone.now()
    Refresh.load()
    claimed = Refresh.objects.filter(pk=1).filter(Q(queued_at__isnull=True) | Q(queued_at__lt=now - REQUEUE_AFTER)
                                                  ).update(queued_at=now)
    if claimed:
        transaction.on_commit(refresh_figures.delay)


def figures_fresh() -> Freshness:
    """The figures' state, brought up to date first when that is quick (one query when nothing
    changed)."""
    state = Refresh.objects.annotate(stale=Exists(Stale.objects.all())).filter(pk=1).first()
    if state is not None and state.refreshed_at is not None and not state.stale:
        return Freshness(state.refreshed_at, False, state.seconds)
    quick = (state.seconds <= INLINE_SECONDS if state is not None and state.refreshed_at is not None
             else Client.objects.count() <= INLINE_CLIENTS)
    if quick and (done := figures_refresh(wait=False)) is not None:
        return Freshness(done.refreshed_at, False, done.seconds)
    _queue_refresh()
    return Freshness(state.refreshed_at if state else None, True, state.seconds if state else 0.0)


# --- billed and collected ------------------------------------------------------------------------
def billed_by_period(periods: list[str]) -> dict[str, Decimal]:
    rows = BilledCell.objects.filter(period__in=periods).values("period").annotate(t=Sum("total")).order_by()
    return {r["period"]: r["t"] for r in rows}


def collected_by_month(start: date, end: date) -> dict[str, Decimal]:
    """Money received from the month starting `start` up to (not including) the month starting
    `end`, per calendar month (Nairobi) as `YYYY-MM`."""
    rows = (PaymentDay.objects.filter(status__in=COLLECTED_STATUSES, day__gte=start, day__lt=end)
            .annotate(month=TruncMonth("day")).values("month").annotate(t=Sum("amount")).order_by())
    return {period_of(r["month"]): r["t"] for r in rows}


def billed_vs_collected(months: int = 12, *, today: date | None = None) -> list[MonthFigures]:
    """The last `months` calendar months up to this one, oldest first (two queries)."""
    last = month_first(today or timezone.localdate())
    first = add_months(last, -(months - 1))
    periods = [period_of(add_months(first, i)) for i in range(months)]
    billed = billed_by_period(periods)
    collected = collected_by_month(first, add_months(last, 1))
    return [MonthFigures(p, billed.get(p, ZERO), collected.get(p, ZERO)) for p in periods]


def latest_billing_period(*, today: date | None = None) -> str:
    """The latest period billed; this month when nothing was billed yet."""
    period = BilledCell.objects.order_by("-period").values_list("period", flat=True).first()
    return period or period_of(month_first(today or timezone.localdate()))


def period_summary(period: str, *, months: list[MonthFigures] | None = None) -> PeriodSummary:
    """Billed for `period` and collected in that calendar month; read from `months` (the chart's
    figures) when the period is among them."""
    for m in months or []:
        if m.period == period:
            return PeriodSummary(period, m.billed, m.collected)
    first = period_first(period)
    return PeriodSummary(period, billed_by_period([period]).get(period, ZERO),
                         collected_by_month(first, add_months(first, 1)).get(period, ZERO))


# --- owed and how old ----------------------------------------------------------------------------
BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
BUCKET_LABELS = {"current": "Not yet due", "1-30": "1–30 days", "31-60": "31–60 days", "61-90": "61–90 days",
                 "90+": "Over 90 days"}
EDGES = (("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90))


def bucket_of(oldest_due: date | None, today: date) -> str:
    """The aging bucket of a balance whose oldest unpaid bill fell due on `oldest_due`: `current`
    when none is past due (due today is not yet past due)."""
    if oldest_due is None or oldest_due >= today:
        return "current"
    days = (today - oldest_due).days
    for name, low, high in EDGES:
        if low <= days <= high:
            return name
    return "90+"


def bucket_filter(bucket: str, today: date, field: str = "oldest_due") -> Q:
    """The positions in `bucket` on `today`, as a filter on their oldest unpaid due date."""
    if bucket == "current":
        return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": today})
    if bucket == "90+":
        return Q(**{f"{field}__lt": today - timedelta(days=90)})
    low, high = next((lo, hi) for name, lo, hi in EDGES if name == bucket)
    return Q(**{f"{field}__lte": today - timedelta(days=low), f"{field}__gte": today - timedelta(days=high)})


@dataclass
class Bucket:
    name: str
    clients: int = 0
    amount: Decimal = ZERO

    @property
    def label(self) -> str:
        return BUCKET_LABELS[self.name]


@dataclass
class Aging:
    buckets: list[Bucket]

    @property
    def total(self) -> Decimal:
        return sum((b.amount for b in self.buckets), ZERO)

    @property
    def clients(self) -> int:
        return sum(b.clients for b in self.buckets)

    @property
    def past_due(self) -> Decimal:
        """What is owed by clients whose oldest unpaid bill is past its due date."""
        return sum((b.amount for b in self.buckets if b.name != "current"), ZERO)

    def __getitem__(self, name: str) -> Bucket:
        for b in self.buckets:
            if b.name == name:
                return b
        raise KeyError(name)  # a template's `aging.total` tries this first, then the attribute


def _aging_of(rows: list[dict], today: date) -> Aging:
    buckets = {name: Bucket(name) for name in BUCKETS}
    for r in rows:
        b = buckets[bucket_of(r["oldest_due"], today)]
        b.clients += r["clients"]
        b.amount += r["amount"]
    return Aging(list(buckets.values()))


def aging(*, today: date | None = None, zone: int | None = None, category: int | None = None) -> Aging:
    """Every client's positive balance split by how long past due its oldest unpaid bill is."""
    qs = AgingCell.objects.all()
    if zone is not None:
        qs = qs.filter(zone_id=zone) if zone else qs.filter(zone__isnull=True)
    if category is not None:
        qs = qs.filter(category_id=category)
    rows = list(qs.values("oldest_due").annotate(clients=Sum("clients"), amount=Sum("amount")).order_by())
    return _aging_of(rows, today or timezone.localdate())


def aging_by(dimension: str, *, today: date | None = None) -> list[tuple[int | None, Aging]]:
    """The aging of each zone (`zone`) or category (`category`), by id (None: no zone)."""
    today = today or timezone.localdate()
    field = f"{dimension}_id"
    rows = AgingCell.objects.values(field, "oldest_due").annotate(clients=Sum("clients"), amount=Sum("amount")).order_by()
    grouped: dict[int | None, list[dict]] = {}
    for r in rows:
        grouped.setdefault(r[field], []).append(r)
    return [(key, _aging_of(items, today)) for key, items in grouped.items()]


def positions_in(bucket: str | None, *, today: date | None = None, zone: int | None = None,
                 category: int | None = None) -> QuerySet[Position]:
    """The clients behind a bucket (the drill-down; every client owing when `bucket` is None),
    biggest balance first, with their client."""
    today = today or timezone.localdate()
    qs = Position.objects.select_related("client", "client__zone", "client__category")
    if bucket is not None:
        qs = qs.filter(bucket_filter(bucket, today))
    if zone is not None:
        qs = qs.filter(client__zone_id=zone) if zone else qs.filter(client__zone__isnull=True)
    if category is not None:
        qs = qs.filter(client__category_id=category)
    return qs.order_by("-balance", "client_id")


# --- a period's summary (shared/API.md) ----------------------------------------------------------
@dataclass
class Summary:
    period: str
    billed: Decimal
    collected: Decimal
    invoices: int
    consumption: Decimal
    aging: Aging

    @property
    def collection_efficiency(self) -> Decimal | None:
        return PeriodSummary(self.period, self.billed, self.collected).efficiency

    @property
    def arrears(self) -> Decimal:
        return self.aging.total


def summary(period: str, *, today: date | None = None) -> Summary:
    """`GET /reports/summary/?period=` and the overview page's head figures."""
    money = period_summary(period)
    row = BilledCell.objects.filter(period=period).aggregate(n=Sum("invoices"), m3=Sum("consumption"))
    return Summary(period=period, billed=money.billed, collected=money.collected, invoices=row["n"] or 0,
                   consumption=row["m3"] or M3_ZERO, aging=aging(today=today))


def positions_count() -> int:
    return Position.objects.aggregate(n=Count("pk"))["n"]


# --- the dashboard home's money panel -----------------------------------------------------------
@dataclass
class MoneyAtAGlance:
    fresh: Freshness
    summary: PeriodSummary  # the latest billing period
    this_month: MonthFigures  # the calendar month so far
    months: list[MonthFigures]  # the last 12 months, oldest first
    aging: Aging  # what clients owe today, by how long past due
    unmatched: Unmatched


def money_at_a_glance(*, today: date | None = None, fresh: Freshness | None = None) -> MoneyAtAGlance:
    """Everything the home page shows about money, from the report figures (a handful of small
    queries, whatever the provider's size); `fresh`: figures_fresh() when the caller had it."""
    today = today or timezone.localdate()
    fresh = fresh or figures_fresh()
    months = billed_vs_collected(12, today=today)
    return MoneyAtAGlance(fresh=fresh, summary=period_summary(latest_billing_period(today=today), months=months),
                          this_month=months[-1], months=months, aging=aging(today=today),
                          unmatched=unmatched_kept())


def unmatched_kept() -> Unmatched:
    """Payments waiting in reconciliation (no client found for them), however old: the kept
    figures' count (PaymentDay, as the Collections report reads them)."""
    row = PaymentDay.objects.filter(status=Payment.Status.UNMATCHED).aggregate(n=Sum("payments"), s=Sum("amount"))
    return Unmatched(count=row["n"] or 0, amount=row["s"] or ZERO)
