"""Meter reading: how far a month's round got per zone and per reader, the flagged readings
waiting for review and the meters not read for two periods or more (Dashboard → Reports)."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone

from accounts.permissions import require_capability
from majismart.exports import Column, chunked, csv_response, xlsx_response
from payments.selectors import period_label
from reports.figures import figures_fresh
from reports.readings import (
    MISSED,
    Counted,
    chosen_month,
    completion,
    flagged_waiting,
    readers,
    recent_months,
    unread_count,
    unread_cutoff,
    unread_meters,
)
from reports.views.common import export_format, report_page

ZONE_COLUMNS = [Column("Zone", lambda z: z.name or "No zone"), Column("Meters to read", lambda z: z.meters, "int"),
                Column("Read", lambda z: z.read, "int"), Column("Not read yet", lambda z: z.remaining, "int"),
                Column("Read (%)", lambda z: z.percent, "percent")]
READER_COLUMNS = [Column("Reader", lambda r: r.name or "No user (imported)"),
                  Column("Readings", lambda r: r.readings, "int"), Column("Accepted", lambda r: r.accepted, "int"),
                  Column("Flagged", lambda r: r.flagged, "int"), Column("Rejected", lambda r: r.rejected, "int")]
UNREAD_COLUMNS = [Column("Meter", lambda m: m.meter.serial), Column("Account", lambda m: m.meter.client.account_number),
                  Column("Zone", lambda m: m.zone.name if m.zone_id else "No zone"),
                  Column("Last read", lambda m: m.last_read_on, "date"),
                  Column("Installed", lambda m: m.meter.installed_on, "date")]
TABLES = {"zones": ("Completion by zone", ZONE_COLUMNS), "readers": ("Readings by reader", READER_COLUMNS),
          "unread": ("Meters not read", UNREAD_COLUMNS)}


def _export(fmt: str, month: str, tables: dict[str, Any], table: str) -> HttpResponseBase:
    """Every table as a sheet (xlsx), or the one `?table=` names (csv; zones by default)."""
    if fmt == "xlsx":
        return xlsx_response(f"readings-{month}", [(TABLES[k][0], TABLES[k][1], rows) for k, rows in tables.items()])
    table = table if table in TABLES else "zones"
    return csv_response(f"readings-{table}-{month}", TABLES[table][1], tables[table])


@require_capability("reports.view")
def page(request: HttpRequest) -> HttpResponseBase:
    fresh = figures_fresh()
    today = timezone.localdate()
    month = chosen_month(request.GET.get("month", ""), today)
    done, by_reader, unread = completion(month), readers(month), unread_count(today)
    if fmt := export_format(request):
        return _export(fmt, month, {"zones": done.zones, "readers": by_reader,
                                    "unread": chunked(unread_meters(today))}, request.GET.get("table", ""))
    meters = Paginator(Counted(unread_meters(today), unread), 50).get_page(request.GET.get("page"))
    return report_page(request, "reports/readings.html", "readings", {
        "month": month, "label": period_label(month), "months": recent_months(today), "done": done,
        "readers": by_reader, "flagged": flagged_waiting(), "unread": unread, "meters": meters, "missed": MISSED,
        "cutoff": unread_cutoff(today), "pager_query": f"month={month}"}, fresh)
