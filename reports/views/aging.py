"""Arrears and aging: what clients owe today, split by how long past due their oldest unpaid bill
is (reports.figures.bucket_of), in total, by zone and by category; `?bucket=` lists the clients
behind a bucket (optionally of one `zone` (0: none) and `category`), and the download gives every
client owing (or only those of the bucket, zone and category asked for)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.paginator import Page, Paginator
from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone

from accounts.permissions import require_capability
from clients.models import Category, Zone
from majismart.charts import stacked_bar_chart
from majismart.exports import CSV_TYPE, disposition, export_response
from reports.exports import AGING_COLUMNS, AgingRow, aging_csv, aging_rows, days_past_due
from reports.figures import (
    BUCKET_LABELS,
    BUCKETS,
    Aging,
    aging,
    aging_by,
    bucket_of,
    figures_fresh,
    positions_in,
)
from reports.views.common import export_format, report_page

PAGE_SIZE = 50
NO_ZONE = "No zone"


@dataclass
class AgingLine:
    """A zone's or category's aging, with what its drill-down links need."""

    key: int | None  # the zone or category id (None: no zone)
    name: str
    aging: Aging

    @property
    def param(self) -> str:
        return "0" if self.key is None else str(self.key)


def _number(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def _lines(dimension: str, names: dict[int, str], today: date) -> list[AgingLine]:
    lines = [AgingLine(key, names.get(key, "?") if key is not None else NO_ZONE, a)
             for key, a in aging_by(dimension, today=today)]
    return sorted(lines, key=lambda line: (line.key is None, line.name.lower()))


def _chart(lines: list[AgingLine]) -> dict[str, object]:
    return stacked_bar_chart([line.name for line in lines],
                             [(BUCKET_LABELS[b], [line.aging[b].amount for line in lines]) for b in BUCKETS])


def _drill_rows(page: Page, today: date) -> list[AgingRow]:
    return [AgingRow(p.client_id, p.client.account_number, p.client.full_name,
                     p.client.zone.name if p.client.zone else "", p.client.category.name, p.balance, p.oldest_due,
                     days_past_due(p.oldest_due, today), bucket_of(p.oldest_due, today)) for p in page]


def _export(fmt: str, today: date, bucket: str | None, zone: int | None, category: int | None) -> HttpResponseBase:
    name = "aging" + (f"-{bucket}" if bucket else "")
    if fmt == "csv":  # PostgreSQL writes the lines, the names are put in (reports.exports.aging_csv)
        response = StreamingHttpResponse(aging_csv(today=today, bucket=bucket, zone=zone, category=category),
                                         content_type=CSV_TYPE)
        response["Content-Disposition"] = disposition(name, "csv")
        response["Cache-Control"] = "no-store"
        return response
    return export_response(fmt, name, AGING_COLUMNS,
                           aging_rows(today=today, bucket=bucket, zone=zone, category=category), title="Aging")


@require_capability("reports.view")
def page(request: HttpRequest) -> HttpResponseBase:
    fresh = figures_fresh()
    today = timezone.localdate()
    bucket = request.GET.get("bucket", "")
    bucket_or_none = bucket if bucket in BUCKETS else None
    zone, category = _number(request.GET.get("zone", "")), _number(request.GET.get("category", ""))
    if fmt := export_format(request):
        return _export(fmt, today, bucket_or_none, zone, category)
    zones = dict(Zone.objects.values_list("id", "name"))
    categories = dict(Category.objects.values_list("id", "name"))
    by_zone, by_category = _lines("zone", zones, today), _lines("category", categories, today)
    context: dict[str, Any] = {"today": today, "total": aging(today=today), "by_zone": by_zone,
                               "by_category": by_category, "buckets": BUCKETS, "zone_chart": _chart(by_zone),
                               "category_chart": _chart(by_category),
                               "bucket": bucket_or_none}
    if bucket_or_none:
        query = request.GET.copy()
        query.pop("page", None)
        drill = Paginator(positions_in(bucket_or_none, today=today, zone=zone, category=category), PAGE_SIZE
                          ).get_page(request.GET.get("page"))
        context.update(page=drill, rows=_drill_rows(drill, today), querystring=query.urlencode(),
                       bucket_label=BUCKET_LABELS[bucket_or_none],
                       zone_name=(NO_ZONE if zone == 0 else zones.get(zone, "")) if zone is not None else "",
                       category_name=categories.get(category, "") if category is not None else "")
    return report_page(request, "reports/aging.html", "aging", context, fresh)
