"""Non-revenue water: per zone and period, the system input (what the zone's bulk meters measured
going in), the consumption billed to its clients, NRW in m³ and as a share of the input, and the
provider's total over the zones measured. `?months=12|24`; `?period=` picks the month of the
per-zone table (the latest measured one by default). Downloads: `?export=csv` (every zone and
period: the month-by-month table per zone), `?export=xlsx` (that, and the totals by month)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from accounts.permissions import has_capability, require_capability
from clients.models import Zone
from majismart.charts import grouped_bar_chart
from majismart.exports import Column, csv_response, xlsx_response
from payments.selectors import period_first
from reports.api import PERIOD
from reports.figures import figures_fresh
from reports.nrw import NRWFigures, ZoneNRW, kept_input, nrw_by_period
from reports.views.common import export_format, recent_periods, report_page

MONTHS = (12, 24)


@dataclass
class Row:
    """One zone (or the total: zone None, `total` True) in one period."""

    period: str
    zone: str
    figures: ZoneNRW
    total: bool = False


def _months(request: HttpRequest) -> int:
    value = request.GET.get("months", "")
    return int(value) if value in {str(m) for m in MONTHS} else MONTHS[0]


def _rows(periods: list[str], measured: dict[tuple[int | None, str], Decimal],
          names: dict[int | None, str]) -> tuple[list[Row], dict[str, NRWFigures]]:
    """Every measured zone per period, and the provider's total per period (oldest first)."""
    rows: list[Row] = []
    totals: dict[str, NRWFigures] = {}
    for period, figures in nrw_by_period(periods, measured).items():
        totals[period] = figures
        rows += [Row(period, names.get(z.zone_id, "No zone"), z) for z in figures.zones]
        rows.append(Row(period, "All zones measured", ZoneNRW(None, figures.system_input, figures.billed), total=True))
    return rows, totals


COLUMNS = [Column("Period", lambda r: r.period), Column("Zone", lambda r: r.zone),
           Column("System input (m³)", lambda r: r.figures.system_input, "m3"),
           Column("Billed consumption (m³)", lambda r: r.figures.billed, "m3"),
           Column("Non-revenue water (m³)", lambda r: r.figures.nrw, "m3"),
           Column("NRW (% of input)", lambda r: r.figures.percent, "percent")]


@require_capability("reports.view")
def page(request: HttpRequest) -> HttpResponseBase:
    fresh = figures_fresh()
    months = _months(request)
    periods = recent_periods(months)
    measured = kept_input(periods)
    zones = list(Zone.objects.order_by("name"))
    names: dict[int | None, str] = {z.pk: z.name for z in zones}
    rows, totals = _rows(periods, measured, names)
    if fmt := export_format(request):
        total_rows = [r for r in rows if r.total]
        if fmt == "xlsx":
            return xlsx_response("nrw", [("By zone", COLUMNS, rows), ("Totals", COLUMNS, total_rows)])
        return csv_response("nrw", COLUMNS, rows)
    measured_periods = [p for p in periods if p in totals]
    asked = request.GET.get("period", "")
    period = asked if PERIOD.match(asked) and asked in totals else (measured_periods[-1] if measured_periods else "")
    measured_zones = {z for z, _ in measured}
    chart = grouped_bar_chart(
        [period_first(p).strftime("%b %Y") for p in measured_periods],
        [("System input", [totals[p].system_input for p in measured_periods]),
         ("Billed", [totals[p].billed for p in measured_periods])], unit="m³") if measured_periods else None
    return report_page(request, "reports/nrw.html", "nrw", {
        "months": months, "month_choices": MONTHS, "period": period, "periods": list(reversed(measured_periods)),
        "chosen": [r for r in rows if r.period == period], "totals": [(p, totals[p]) for p in reversed(measured_periods)],
        "chart": chart, "unmeasured": [z for z in zones if z.pk not in measured_zones],
        "can_add_meter": has_capability(request.user, "meters.manage")}, fresh)
