"""Reading the consumption figures (reports.models UsageCell, TopConsumer, ZeroMeter, made by
reports.refresh): water read by zone and category per calendar month, a period's biggest bills
by volume and its meters that used nothing. A few small queries whatever the provider's size."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import QuerySet, Sum

from clients.models import Category, Zone
from reports.figures import M3_ZERO
from reports.models import TopConsumer, UsageCell, ZeroMeter

NO_ZONE = "No zone"


@dataclass
class UsageLine:
    """One zone or category: its m³ for each month asked for (oldest first) and in all."""

    key: int | None
    name: str
    months: list[Decimal] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum(self.months, M3_ZERO)


@dataclass
class Usage:
    periods: list[str]
    by_zone: list[UsageLine]
    by_category: list[UsageLine]
    totals: list[Decimal]  # the provider's m³ per month

    @property
    def total(self) -> Decimal:
        return sum(self.totals, M3_ZERO)


def _lines(cells: list[dict], key: str, names: dict[int, str], periods: list[str]) -> list[UsageLine]:
    lines: dict[int | None, UsageLine] = {}
    index = {p: i for i, p in enumerate(periods)}
    for cell in cells:
        k = cell[key]
        line = lines.setdefault(k, UsageLine(k, names.get(k, "?") if k is not None else NO_ZONE,
                                             [M3_ZERO] * len(periods)))
        line.months[index[cell["period"]]] += cell["m3"]
    return sorted(lines.values(), key=lambda line: (line.key is None, line.name.lower()))


def usage(periods: list[str]) -> Usage:
    """Consumption read in each of `periods` (calendar months), by zone and by category (three
    queries: the cells, the zone names, the category names)."""
    cells = list(UsageCell.objects.filter(period__in=periods).values("period", "zone_id", "category_id")
                 .annotate(m3=Sum("consumption")).order_by())
    zones = dict(Zone.objects.values_list("id", "name"))
    categories = dict(Category.objects.values_list("id", "name"))
    totals = [sum((c["m3"] for c in cells if c["period"] == p), M3_ZERO) for p in periods]
    return Usage(periods, _lines(cells, "zone_id", zones, periods), _lines(cells, "category_id", categories, periods),
                 totals)


@dataclass
class MonthMeters:
    read: int  # client meters read that month
    zero: int  # of them, meters whose month came to 0 m³


def meters_read(period: str) -> MonthMeters:
    row = UsageCell.objects.filter(period=period).aggregate(n=Sum("meters"), z=Sum("zero_meters"))
    return MonthMeters(row["n"] or 0, row["z"] or 0)


def top_consumers(period: str) -> QuerySet[TopConsumer]:
    """The period's biggest bills by volume, rank first, with their client."""
    return TopConsumer.objects.filter(period=period).select_related("client").order_by("rank")


def zero_meters(period: str) -> QuerySet[ZeroMeter]:
    """The meters that used nothing in the month `period`, by serial, with their client, zone and
    category (a page at a time: the period's index)."""
    return (ZeroMeter.objects.filter(period=period)
            .select_related("meter", "client", "client__zone", "client__category").order_by("meter__serial", "pk"))


def usage_periods() -> list[str]:
    """Every month with readings, newest first (the period picker)."""
    return list(UsageCell.objects.order_by("-period").values_list("period", flat=True).distinct())
