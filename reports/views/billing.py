"""Billing: a period's issued invoices, m³ and KES by category and by tariff line kind, the share
billed on estimates, and the 12 months up to it. Downloads: `?export=csv&table=categories|kinds|
estimates|trend` (categories when left out) or `?export=xlsx` (every table, a sheet each)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from accounts.permissions import require_capability
from majismart.charts import grouped_bar_chart
from majismart.exports import Column, csv_response, xlsx_response
from payments.selectors import as_percent, period_label
from reports.billed import PeriodBilling, TrendMonth, period_billing, trend
from reports.figures import figures_fresh
from reports.views.common import chosen_period, export_format, periods_billed, report_page

TABLES = ("categories", "kinds", "estimates", "trend")


def _sheets(b: PeriodBilling, months: list[TrendMonth]) -> dict[str, tuple[str, list[Column], list[Any]]]:
    """Every table of the page as (sheet title, columns, rows), by its `?table=` name."""
    return {
        "categories": ("By category", [
            Column("Category", lambda r: r.name), Column("Invoices", lambda r: r.invoices, "int"),
            Column("Consumption (m³)", lambda r: r.consumption, "m3"), Column("Billed (KES)", lambda r: r.total, "money"),
            Column("Estimated invoices", lambda r: r.estimated_invoices, "int"),
            Column("Estimated consumption (m³)", lambda r: r.estimated_consumption, "m3")], b.categories),
        "kinds": ("By line kind", [
            Column("Line kind", lambda r: r.label), Column("Lines", lambda r: r.lines, "int"),
            Column("Amount (KES)", lambda r: r.amount, "money")], b.kinds),
        "estimates": ("Estimated vs actual", [
            # Invoices are whole numbers and m³ have 3 decimals: each cell keeps its own (numbers in XLSX).
            Column("Basis", lambda r: r.basis), Column("Estimated", lambda r: r.estimated),
            Column("Actual", lambda r: r.actual), Column("Total", lambda r: r.total),
            Column("Estimated share (%)", lambda r: as_percent(r.ratio), "percent")], b.shares),
        "trend": ("12-month trend", [
            Column("Period", lambda r: r.period), Column("Invoices", lambda r: r.invoices, "int"),
            Column("Billed (KES)", lambda r: r.total, "money"),
            Column("Consumption (m³)", lambda r: r.consumption, "m3")], months),
    }


@require_capability("reports.view")
def page(request: HttpRequest) -> HttpResponseBase:
    fresh = figures_fresh()
    period = chosen_period(request)
    billing, months = period_billing(period), trend(period)
    sheets = _sheets(billing, months)
    if fmt := export_format(request):
        if fmt == "xlsx":
            return xlsx_response(f"billing-{period}", list(sheets.values()))
        table = request.GET.get("table", "")
        table = table if table in TABLES else TABLES[0]
        _title, columns, rows = sheets[table]
        return csv_response(f"billing-{period}-{table}", columns, rows)
    labels = [m.label for m in months]
    return report_page(request, "reports/billing.html", "billing", {
        "b": billing, "period": period, "periods": periods_billed(), "label": period_label(period),
        "months": months, "months_recent": list(reversed(months)),
        "kes_chart": grouped_bar_chart(labels, [("Billed", [m.total for m in months])]),
        "m3_chart": grouped_bar_chart(labels, [("Consumption billed", [m.consumption for m in months])], unit="m³"),
        "kind_top": max((k.amount for k in billing.kinds), default=0) or 1,
        "category_top": max((c.total for c in billing.categories), default=0) or 1,
        "shares": [(s, as_percent(s.ratio)) for s in billing.shares]}, fresh)
