"""Consumption: water read by zone and by category in each of the last 12 calendar months (chart
and tables), and for a chosen period its top consumers (the biggest bills by volume) and the
meters that used nothing (a page at a time). Downloads: every table as a sheet of the Excel
file; CSV gives one, chosen with `?table=zone|category|top|zero` (zone when not said)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from accounts.permissions import require_capability
from majismart.charts import grouped_bar_chart
from majismart.exports import Column, chunked, csv_response, xlsx_response
from payments.selectors import period_first, period_label
from reports.api import PERIOD
from reports.consumption import Usage, meters_read, top_consumers, usage, usage_periods, zero_meters
from reports.figures import figures_fresh, latest_billing_period
from reports.views.common import export_format, periods_billed, recent_periods, report_page

PAGE_SIZE = 50
MONTHS = 12
TABLES = ("zone", "category", "top", "zero")


def _month(period: str) -> str:
    return period_first(period).strftime("%b %Y")


def _matrix(usage_: Usage, lines: str) -> list[tuple[str, str, list[Any], Any]]:
    """One row per month (period, its label, the m³ of each zone or category, the total)."""
    items = getattr(usage_, lines)
    return [(p, _month(p), [line.months[m] for line in items], usage_.totals[m]) for m, p in enumerate(usage_.periods)]


def _shown(usage_: Usage, lines: str) -> list[tuple[str, list[tuple[str, Any]], Any]]:
    """The page's month rows: each value with its zone's (or category's) name, for phones."""
    names = [line.name for line in getattr(usage_, lines)]
    return [(label, list(zip(names, values, strict=True)), total) for _, label, values, total in _matrix(usage_, lines)]


def itemgetter_of(i: int) -> Callable[[Any], Any]:
    """The i-th zone's (or category's) value of a month row."""
    return lambda row: row[2][i]


def _by(usage_: Usage, lines: str) -> tuple[list[Column], list[Any]]:
    """The month × zone (or category) table as a download: a column per zone, then the total."""
    columns = [Column("Month", lambda r: r[0])]
    columns += [Column(f"{line.name} (m³)", itemgetter_of(i), "m3") for i, line in enumerate(getattr(usage_, lines))]
    columns.append(Column("Total (m³)", lambda r: r[3], "m3"))
    return columns, _matrix(usage_, lines)


TOP_COLUMNS = [Column("Rank", lambda t: t.rank, "int"), Column("Account", lambda t: t.client.account_number),
               Column("Client", lambda t: t.client.full_name), Column("Consumption (m³)", lambda t: t.consumption, "m3")]
ZERO_COLUMNS = [Column("Meter", lambda z: z.meter.serial), Column("Account", lambda z: z.client.account_number),
                Column("Client", lambda z: z.client.full_name),
                Column("Zone", lambda z: z.client.zone.name if z.client.zone else ""),
                Column("Category", lambda z: z.client.category.name)]


def _sheets(usage_: Usage, period: str) -> dict[str, tuple[str, list[Column], Iterable[Any]]]:
    return {"zone": ("By zone", *_by(usage_, "by_zone")),
            "category": ("By category", *_by(usage_, "by_category")),
            "top": (f"Top consumers {period}", TOP_COLUMNS, top_consumers(period)),
            "zero": (f"Zero meters {period}", ZERO_COLUMNS, chunked(zero_meters(period)))}


def _period(request: HttpRequest, periods: list[str]) -> str:
    asked = request.GET.get("period", "")
    if PERIOD.match(asked):
        return asked
    return periods[0] if periods else latest_billing_period()


@require_capability("reports.view")
def page(request: HttpRequest) -> HttpResponseBase:
    fresh = figures_fresh()
    periods = sorted(set(usage_periods()) | set(periods_billed()), reverse=True)
    period = _period(request, periods)
    usage_ = usage(recent_periods(MONTHS))
    if fmt := export_format(request):
        sheets = _sheets(usage_, period)
        if fmt == "xlsx":
            return xlsx_response(f"consumption-{period}", list(sheets.values()))
        table = request.GET.get("table", "")
        _, columns, rows = sheets[table if table in TABLES else "zone"]
        return csv_response(f"consumption-{table if table in TABLES else 'zone'}-{period}", columns, rows)
    query = request.GET.copy()
    query.pop("page", None)
    labels = [_month(p) for p in usage_.periods]
    context: dict[str, Any] = {
        "usage": usage_, "labels": labels, "period": period, "periods": periods,
        "chart": grouped_bar_chart(labels, [("Consumption read", usage_.totals)], unit="m³"),
        "zone_rows": _shown(usage_, "by_zone"), "category_rows": _shown(usage_, "by_category"),
        "period_label_text": period_label(period),
        "month_meters": meters_read(period), "top": list(top_consumers(period)),
        "page": Paginator(zero_meters(period), PAGE_SIZE).get_page(request.GET.get("page")),
        "querystring": query.urlencode()}
    return report_page(request, "reports/consumption.html", "consumption", context, fresh)
