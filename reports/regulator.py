"""The regulator pack: the WASREB-style indicators MajiSmart can compute for a calendar year, each
with its unit, how it is computed and a short note. Money and volumes come from the figure tables
(reports.figures), connections from ConnectionCell; complaint handling reads the year's resolved
service requests (one aggregate) and staff the active staff logins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Aggregate, Avg, Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone

from accounts.models import STAFF_ROLES, User
from clients.models import Client
from fieldwork.models import ServiceRequest
from payments.selectors import ZERO, as_percent, efficiency
from reports.figures import M3_ZERO, aging, billed_by_period, collected_by_month
from reports.models import BilledCell, ConnectionCell
from reports.nrw import NRWFigures, kept_input, nrw_for
from reports.refresh import NAIROBI

DAY = Decimal(86400)


class Median(Aggregate):
    """PostgreSQL's continuous median of an expression (an interval here)."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


@dataclass
class Indicator:
    key: str
    name: str
    value: Decimal | int | None  # None: not measured / nothing to measure
    unit: str
    how: str  # how it is computed
    note: str = ""
    missing: str = "—"  # shown in place of a None value


@dataclass
class Connections:
    active: int  # clients with status active
    total: int  # active and disconnected (closed accounts are no connection)
    active_metered: int  # active clients with an active meter


def connections() -> Connections:
    """From ConnectionCell (a handful of rows)."""
    active = total = metered = 0
    for c in ConnectionCell.objects.all():
        if c.status == Client.Status.ACTIVE:
            active += c.clients
            metered += c.clients if c.metered else 0
        if c.status in (Client.Status.ACTIVE, Client.Status.DISCONNECTED):
            total += c.clients
    return Connections(active, total, metered)


@dataclass
class Resolution:
    resolved: int
    median_days: Decimal | None
    average_days: Decimal | None
    on_time: int  # of them, resolved by their due_by

    @property
    def on_time_percent(self) -> Decimal | None:
        return as_percent(efficiency(Decimal(self.resolved), Decimal(self.on_time)))


def _days(span: timedelta | None) -> Decimal | None:
    return None if span is None else (Decimal(span.total_seconds()) / DAY).quantize(Decimal("0.1"))


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    return (datetime.combine(date(year, 1, 1), time.min, tzinfo=NAIROBI),
            datetime.combine(date(year + 1, 1, 1), time.min, tzinfo=NAIROBI))


def resolution(year: int) -> Resolution:
    """Service requests resolved in `year` (Nairobi): days from creation to resolution, median and
    average, and how many were resolved by their due time (one query)."""
    start, end = _year_bounds(year)
    took = ExpressionWrapper(F("resolved_at") - F("created"), output_field=DurationField())
    row = (ServiceRequest.objects.filter(status=ServiceRequest.Status.RESOLVED, resolved_at__gte=start,
                                         resolved_at__lt=end)
           .aggregate(n=Count("pk"), median=Median(took, output_field=DurationField()), average=Avg(took),
                      on_time=Count("pk", filter=Q(resolved_at__lte=F("due_by")))))
    return Resolution(row["n"], _days(row["median"]), _days(row["average"]), row["on_time"])


def active_staff() -> int:
    """Staff logins that can sign in (the team page's "active": invited people are not yet)."""
    return User.objects.filter(role__in=STAFF_ROLES, is_active=True).count()


def _ratio(part: int, whole: int) -> Decimal | None:
    return as_percent(efficiency(Decimal(whole), Decimal(part)))


def _per_thousand(staff: int, active: int) -> Decimal | None:
    return (Decimal(staff) * 1000 / Decimal(active)).quantize(Decimal("0.01")) if active else None


@dataclass
class Pack:
    year: int
    indicators: list[Indicator]

    def __getitem__(self, key: str) -> Indicator:
        for i in self.indicators:
            if i.key == key:
                return i
        raise KeyError(key)  # a template's `pack.indicators` tries this first, then the attribute


def _money(year: int, periods: list[str], *, today: date) -> list[Indicator]:
    billed = sum(billed_by_period(periods).values(), ZERO)
    collected = sum(collected_by_month(date(year, 1, 1), date(year + 1, 1, 1)).values(), ZERO)
    volume = BilledCell.objects.filter(period__in=periods).aggregate(m3=Sum("consumption", default=M3_ZERO))["m3"]
    current = year >= today.year
    return [
        Indicator("collection_efficiency", "Collection efficiency", as_percent(efficiency(billed, collected)), "%",
                  f"money received in {year} ÷ billed for the periods {year}-01 to {year}-12",
                  "Payments matched to an account or waiting for reconciliation; reversed and refunded ones excluded."),
        Indicator("billed", "Revenue billed", billed, "KES", f"issued bills of the periods {year}-01 to {year}-12",
                  "Drafts are not bills."),
        Indicator("collected", "Revenue collected", collected, "KES", f"payments received in {year} (Nairobi days)"),
        Indicator("billed_volume", "Billed volume", volume, "m³", f"consumption on the issued bills of {year}'s periods",
                  "Estimated bills included."),
        Indicator("arrears", "Arrears" + (" today" if current else " at year end"),
                  aging(today=today).total if current else None, "KES",
                  "sum of positive client balances (what clients owe)",
                  "Today's balances." if current else "Balances are kept as they are today; a past year end's are not.",
                  missing="not kept for a past year"),
    ]


def _nrw(figures: NRWFigures | None) -> Indicator:
    return Indicator("nrw", "Non-revenue water", figures.percent if figures else None, "%",
                     "(system input − billed consumption) ÷ system input, in zones with bulk meters",
                     f"{figures.nrw:,} m³ of {figures.system_input:,} m³" if figures else
                     "Needs bulk (zone or production) meters.", missing="not measured (no bulk meters)")


def _service(year: int, conn: Connections, staff: int, res: Resolution) -> list[Indicator]:
    return [
        Indicator("metering_ratio", "Metering ratio", _ratio(conn.active_metered, conn.active), "%",
                  "active connections with an active meter ÷ active connections", "As the figures stand today."),
        Indicator("active_connections", "Active connections", conn.active, "connections", "clients with status active",
                  "As the figures stand today."),
        Indicator("total_connections", "Total connections", conn.total, "connections",
                  "active and disconnected clients", "Closed accounts are not counted."),
        Indicator("active_share", "Active connections share", _ratio(conn.active, conn.total), "%",
                  "active connections ÷ total connections"),
        Indicator("requests_resolved", "Complaints resolved", res.resolved, "requests",
                  f"service requests resolved in {year}", "Cancelled requests are not counted."),
        Indicator("resolution_median", "Complaint resolution time (median)", res.median_days, "days",
                  "median of (resolved − created) over the requests resolved in the year"),
        Indicator("resolution_average", "Complaint resolution time (average)", res.average_days, "days",
                  "average of (resolved − created) over the requests resolved in the year"),
        Indicator("resolved_on_time", "Complaints resolved on time", res.on_time_percent, "%",
                  "requests resolved by their due time ÷ requests resolved"),
        Indicator("staff_per_1000", "Staff per 1,000 connections", _per_thousand(staff, conn.active),
                  "staff / 1,000 connections", "active staff logins × 1,000 ÷ active connections",
                  f"{staff} active staff login{'s' if staff != 1 else ''} (owners, managers, accountants, meter "
                  "readers) today."),
    ]


def regulator_pack(year: int, *, today: date | None = None,
                   system_input: dict[tuple[int | None, str], Decimal] | None = None) -> Pack:
    """Every indicator for `year` (about eight small queries)."""
    today = today or timezone.localdate()
    periods = [f"{year:04d}-{m:02d}" for m in range(1, 13)]
    money = _money(year, periods, today=today)
    measured = kept_input(periods) if system_input is None else system_input
    rows = money[:1] + [_nrw(nrw_for(periods, measured))] + money[1:]
    rows += _service(year, connections(), active_staff(), resolution(year))
    return Pack(year, rows)


def shown(i: Indicator) -> Any:
    """An indicator's value as the page and the exports show it."""
    return i.missing if i.value is None else i.value
