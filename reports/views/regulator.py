"""The regulator pack: WASREB-style indicators for a chosen year (`?year=`, this year by default)
as a page, CSV and XLSX (the same table)."""

from __future__ import annotations

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone

from accounts.permissions import require_capability
from majismart.exports import Column, export_response
from reports.figures import figures_fresh
from reports.regulator import regulator_pack, shown
from reports.views.common import export_format, report_page

FIRST_YEAR = 2020  # the oldest year offered
COLUMNS = [Column("Indicator", lambda i: i.name), Column("Value", shown, "text"), Column("Unit", lambda i: i.unit),
           Column("How computed", lambda i: i.how), Column("Note", lambda i: i.note)]


def chosen_year(value: str, this_year: int) -> int:
    """`?year=` when it is a year MajiSmart could have figures for, else this year."""
    return int(value) if value.isdigit() and FIRST_YEAR <= int(value) <= this_year else this_year


@require_capability("reports.view")
def page(request: HttpRequest) -> HttpResponseBase:
    fresh = figures_fresh()
    today = timezone.localdate()
    year = chosen_year(request.GET.get("year", ""), today.year)
    pack = regulator_pack(year, today=today)
    if fmt := export_format(request):
        return export_response(fmt, f"regulator-{year}", COLUMNS, pack.indicators, title=f"Indicators {year}")
    return report_page(request, "reports/regulator.html", "regulator", {
        "year": year, "years": list(range(today.year, FIRST_YEAR - 1, -1)), "pack": pack}, fresh)
