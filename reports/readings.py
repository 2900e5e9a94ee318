"""The meter-reading report's figures (reports.models' MeterRound, RoundCell, ReadCell and
ReaderCell, made by reports.refresh): how far a month's round got per zone, what each reader
captured, and the meters nobody has read for two periods or more. A handful of small queries
whatever the number of meters; the list of meters not read reads MeterRound by its index, a page
at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet, Sum

from meters.models import Reading
from payments.selectors import add_months, as_percent, month_first, period_first, period_of
from reports.models import MeterRound, ReadCell, ReaderCell, RoundCell

MISSED = 2  # periods without an accepted reading before a meter is listed as not read


@dataclass
class ZoneCompletion:
    zone_id: int | None
    code: str  # "" for clients in no zone
    name: str
    meters: int  # the round's meters in the zone (to read)
    read: int  # of them, read in the month

    @property
    def remaining(self) -> int:
        return max(self.meters - self.read, 0)

    @property
    def percent(self) -> Decimal | None:
        return as_percent(Decimal(self.read) / Decimal(self.meters)) if self.meters else None


@dataclass
class Completion:
    period: str
    zones: list[ZoneCompletion]

    @property
    def meters(self) -> int:
        return sum(z.meters for z in self.zones)

    @property
    def read(self) -> int:
        return sum(z.read for z in self.zones)

    @property
    def remaining(self) -> int:
        return sum(z.remaining for z in self.zones)

    @property
    def percent(self) -> Decimal | None:
        return as_percent(Decimal(self.read) / Decimal(self.meters)) if self.meters else None


def completion(period: str) -> Completion:
    """The round's meters per zone (as they are now) and how many were read in `period` (two
    queries). A zone with readings but no meter left in the round still shows (0 to read)."""
    to_read = {r["zone_id"]: r for r in RoundCell.objects.values("zone_id", "zone__code", "zone__name")
               .annotate(n=Sum("meters")).order_by()}
    read = {r["zone_id"]: r for r in ReadCell.objects.filter(period=period)
            .values("zone_id", "zone__code", "zone__name").annotate(n=Sum("meters")).order_by()}
    zones = []
    for zone_id in to_read.keys() | read.keys():
        row = to_read.get(zone_id) or read[zone_id]
        zones.append(ZoneCompletion(zone_id, row["zone__code"] or "", row["zone__name"] or "",
                                    to_read[zone_id]["n"] if zone_id in to_read else 0,
                                    read[zone_id]["n"] if zone_id in read else 0))
    zones.sort(key=lambda z: (z.zone_id is None, z.name.lower(), z.code))  # clients in no zone last
    return Completion(period, zones)


@dataclass
class ReaderFigures:
    user_id: int | None
    name: str  # "" when no user recorded them
    readings: int
    accepted: int
    flagged: int
    rejected: int


def readers(period: str) -> list[ReaderFigures]:
    """The readings captured in `period` per user who recorded them, most first (one query)."""
    rows = (ReaderCell.objects.filter(period=period).values("user_id", "user__full_name", "user__email")
            .annotate(n=Sum("readings"), ok=Sum("accepted"), flagged=Sum("flagged"), rejected=Sum("rejected"))
            .order_by())
    out = [ReaderFigures(r["user_id"], (r["user__full_name"] or r["user__email"] or "") if r["user_id"] else "",
                         r["n"], r["ok"], r["flagged"], r["rejected"]) for r in rows]
    return sorted(out, key=lambda f: (-f.readings, f.user_id is None, f.name.lower()))


def flagged_waiting() -> int:
    """Readings waiting in the review queue (read through its partial index, a small set)."""
    return Reading.objects.filter(status=Reading.Status.FLAGGED).count()


def unread_cutoff(today: date) -> date:
    """A meter last read (or installed) before this day has gone MISSED whole periods unread
    before the current one: last read in September, it missed October and November (seen in
    December)."""
    return add_months(month_first(today), -MISSED)


def unread_count(today: date) -> int:
    """The round's meters not read for MISSED periods or more (one query on RoundCell)."""
    before = period_of(unread_cutoff(today))
    return RoundCell.objects.filter(since_period__lt=before).aggregate(n=Sum("meters", default=0))["n"]


def unread_meters(today: date) -> QuerySet[MeterRound]:
    """The meters behind `unread_count`, longest unread first, with their meter, client and zone."""
    return (MeterRound.objects.filter(since__lt=unread_cutoff(today))
            .select_related("meter", "meter__client", "zone").order_by("since", "meter_id"))


class Counted:
    """A queryset whose length is already known (from the figure tables): the Paginator slices it
    without counting the rows again."""

    def __init__(self, items: QuerySet[Any], count: int) -> None:
        self.items, self.n = items, count

    def count(self) -> int:
        return self.n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: Any) -> Any:
        return self.items[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)


def recent_months(today: date, months: int = 12) -> list[str]:
    """The months a page can show, newest first."""
    first = month_first(today)
    return [period_of(add_months(first, -i)) for i in range(months)]


def chosen_month(value: str, today: date) -> str:
    """`?month=YYYY-MM` when it is a real month not after this one, else this month."""
    try:
        first = period_first(value)
    except (ValueError, IndexError):
        return period_of(month_first(today))
    if len(value) != 7 or value[4] != "-" or first > today:
        return period_of(month_first(today))
    return value
