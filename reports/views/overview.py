"""The reports' front page: the latest period at a glance and a door to each report."""

from __future__ import annotations

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone

from accounts.permissions import require_capability
from majismart.exports import Column, export_response
from payments.selectors import as_percent, period_label
from reports.figures import figures_fresh, summary
from reports.views.common import TABS, chosen_period, export_format, periods_billed, report_page

# What each report answers, under its name on the overview: a door says where it leads.
BLURBS = {
    "collections": "Billed against collected by month, by payment method and by day.",
    "aging": "Who owes what, by how long past due, by zone and category.",
    "billing": "A period's bills by category and tariff line; estimates against actual readings.",
    "consumption": "Water used by zone and category, the top consumers and meters that used nothing.",
    "readings": "How far the reading round has got, by zone and by reader; meters left unread.",
    "nrw": "Water into each zone by its bulk meters against what its clients were billed.",
    "regulator": "The year's indicators for WASREB-style returns, with how each is computed.",
}


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
        "efficiency_percent": as_percent(s.collection_efficiency),
        "doors": [(key, url_name, label, BLURBS[key]) for key, url_name, label in TABS if key in BLURBS]}, fresh)
