"""The reports' front page: the latest period at a glance and a door to each report."""

from __future__ import annotations

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone

from accounts.permissions import require_capability
from majismart.exports import Column, export_response
from payments.selectors import as_percent, period_label
from reports.figures import figures_fresh, summary
from reports.views.common import chosen_period, export_format, periods_billed, report_page


@require_capability("reports.view")
def overview(request: HttpRequest) -> HttpResponseBase:
    fresh = figures_fresh()
    period = chosen_period(request)
    s = summary(period)
    rows = [("Billed", s.billed, "money"), ("Collected", s.collected, "money"),
            ("Collection efficiency (%)", as_percent(s.collection_efficiency), "percent"),
            ("Invoices", s.invoices, "int"), ("Consumption billed (m³)", s.consumption, "m3"),
            ("Arrears today", s.arrears, "money")]
    rows += [(f"Arrears {b.label.lower()}", b.amount, "money") for b in s.aging.buckets]
    if fmt := export_format(request):
        columns = [Column("Figure", lambda r: r[0]), Column("Value", lambda r: r[1], "text")]
        return export_response(fmt, f"summary-{period}", columns, [(name, value) for name, value, _ in rows],
                               title=f"Summary {period}")
    return report_page(request, "reports/overview.html", "overview", {
        "s": s, "period": period, "periods": periods_billed(), "label": period_label(period),
        "today": timezone.localdate(), "aging_top": max((b.amount for b in s.aging.buckets), default=0) or 1,
        "efficiency_percent": as_percent(s.collection_efficiency)}, fresh)
