from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, cast

from django.db.models import Count, Exists, Min, OuterRef, Q, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone
from django.utils.formats import date_format

from meters.models import Meter, Reading
from meters.validation import NAIROBI

if TYPE_CHECKING:
    from accounts.models import User


def monthly_consumption(meter_ids: Sequence[int], months: int = 12) -> list[tuple[str, Decimal | None]]:
    """Accepted consumption per calendar month (Nairobi), the last `months` months, oldest first."""
    today = timezone.localdate()
    first = date(today.year, today.month, 1)
    for _ in range(months - 1):
        first = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    rows = (Reading.objects.filter(meter_id__in=meter_ids, status=Reading.Status.ACCEPTED,
                                   read_at__date__gte=first)
            .annotate(month=TruncMonth("read_at", tzinfo=NAIROBI)).values("month")
            .annotate(total=Sum("consumption")).order_by("month"))
    totals = {(r["month"].year, r["month"].month): r["total"] for r in rows}
    out = []
    y, m = first.year, first.month
    for _ in range(months):
        out.append((date_format(date(y, m, 1), "M"), totals.get((y, m))))  # the reader's language
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


@dataclass
class ZoneRound:
    code: str  # "" for clients in no zone
    name: str
    meters: int  # active meters to read this month
    read: int  # of them, with a reading this month

    @property
    def remaining(self) -> int:
        return self.meters - self.read


@dataclass
class ReadingRound:
    month: date  # the first day of the month being read
    zones: list[ZoneRound]
    captured_by_user: int | None = None  # readings the user captured this month

    @property
    def meters(self) -> int:
        return sum(z.meters for z in self.zones)

    @property
    def read(self) -> int:
        return sum(z.read for z in self.zones)

    @property
    def remaining(self) -> int:
        return self.meters - self.read


def reading_round(*, user: object = None, today: date | None = None) -> ReadingRound:
    """This month's reading round (Nairobi): the active meters of active clients and the zones'
    active bulk meters (as the route sheet lists them) by zone, and how many already have a reading this month (anyone's, not
    rejected). With `user`, also the readings that user captured this month. One or two queries."""
    from clients.models import Client

    today = today or timezone.localdate()
    first = date(today.year, today.month, 1)
    start = datetime.combine(first, time.min, tzinfo=NAIROBI)
    end = datetime.combine(date(first.year + (first.month == 12), first.month % 12 + 1, 1), time.min, tzinfo=NAIROBI)
    this_month = Reading.objects.filter(read_at__gte=start, read_at__lt=end).exclude(status=Reading.Status.REJECTED)
    rows = (Meter.objects.filter(Q(client__status=Client.Status.ACTIVE) | Q(kind=Meter.Kind.BULK),
                                 status=Meter.Status.ACTIVE)
            .annotate(done=Exists(this_month.filter(meter=OuterRef("pk"))),
                      zone_code=Coalesce("zone__code", "client__zone__code"),
                      zone_name=Coalesce("zone__name", "client__zone__name"))
            .values("zone_code", "zone_name")
            .annotate(meters=Count("pk"), read=Count("pk", filter=Q(done=True)))
            .order_by("zone_name"))
    zones = [ZoneRound(r["zone_code"] or "", r["zone_name"] or "", r["meters"], r["read"]) for r in rows]
    zones.sort(key=lambda z: (z.code == "", z.name.lower()))  # clients in no zone last
    return ReadingRound(month=first, zones=zones, captured_by_user=captured_this_month(user, today) if user else None)


def captured_this_month(user: object, today: date | None = None) -> int:
    """The readings `user` captured this month (Nairobi), not rejected: one query on the user's
    readings."""
    today = today or timezone.localdate()
    start, end = _month_bounds(f"{today.year:04d}-{today.month:02d}")
    return (Reading.objects.filter(recorded_by=cast("User", user), read_at__gte=start, read_at__lt=end)
            .exclude(status=Reading.Status.REJECTED).count())


def _month_bounds(period: str) -> tuple[datetime, datetime]:
    """A period "YYYY-MM" as billing takes it: from its first Nairobi midnight up to, not
    including, the next month's."""
    year, month = int(period[:4]), int(period[5:7])
    start = datetime.combine(date(year, month, 1), time.min, tzinfo=NAIROBI)
    end = datetime.combine(date(year + (month == 12), month % 12 + 1, 1), time.min, tzinfo=NAIROBI)
    return start, end


def system_input(periods: Sequence[str]) -> dict[tuple[int | None, str], Decimal]:
    """What went into each zone per period (m³): the consumption of the accepted readings of
    its bulk meters (active, inactive or replaced alike) read in that calendar month, Nairobi
    time, as a bill for the period takes its readings. Keyed (zone id, "YYYY-MM"); a zone and
    period with no accepted bulk reading is absent (input unknown, not 0). One query."""
    if not periods:
        return {}
    wanted = set(periods)
    bounds = [_month_bounds(p) for p in wanted]
    # One range from the first period to the last (each bulk meter's readings are an index range
    # scan on (meter, read_at)); months in between not asked for are left out below.
    # Whatever the meter's status now: a replaced or inactive meter's past readings still count.
    rows = (Reading.objects.filter(read_at__gte=min(b[0] for b in bounds), read_at__lt=max(b[1] for b in bounds),
                                   status=Reading.Status.ACCEPTED, meter__kind=Meter.Kind.BULK)
            .annotate(month=TruncMonth("read_at", tzinfo=NAIROBI)).values("meter__zone_id", "month")
            .annotate(total=Sum("consumption")).order_by())
    totals = {(r["meter__zone_id"], f"{r['month']:%Y-%m}"): r["total"] or Decimal("0.000") for r in rows}
    return {key: total for key, total in totals.items() if key[1] in wanted}


def bulk_zones() -> dict[int, date]:
    """The zones with a bulk meter, each with the day its first bulk meter was installed: the
    zones whose non-revenue water can be known, and from when (before: unknown, not 0)."""
    rows = (Meter.objects.filter(kind=Meter.Kind.BULK, zone__isnull=False).values("zone_id")
            .annotate(since=Min("installed_on")).order_by())
    return {r["zone_id"]: r["since"] for r in rows}
