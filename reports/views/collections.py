"""Collections: billed vs collected per month (12 or 24), collection efficiency, payments by method
per month and by day of a chosen month, and the unmatched, reversed and refunded payments with the
list behind them. Downloads: `?export=csv&table=months|methods|days|exceptions|payments` (months
when left out; `payments`: every unmatched, reversed or refunded payment of the months, or of the
`?status=` asked for) or `?export=xlsx` (every table, a sheet each)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone

from accounts.permissions import require_capability
from majismart.charts import grouped_bar_chart
from majismart.exports import Column, chunked, csv_response, xlsx_response
from payments.models import Payment
from payments.selectors import MonthFigures, month_first, period_label, period_of
from reports.collections import (
    EXCEPTION_STATUSES,
    METHODS,
    Day,
    MethodMonth,
    StatusRow,
    by_day,
    by_method,
    exception_payments,
    exceptions,
)
from reports.figures import billed_vs_collected, figures_fresh
from reports.views.common import export_format, report_page

PAGE_SIZE = 25  # the drill-down behind the exceptions; every row is in the download
MONTHS = (12, 24)
TABLES = ("months", "methods", "days", "exceptions", "payments")
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _months(request: HttpRequest) -> int:
    value = request.GET.get("months", "")
    return int(value) if value in {str(m) for m in MONTHS} else MONTHS[0]


def _month(request: HttpRequest) -> str:
    """The `?month=YYYY-MM` whose days are shown; this month when none (or no real one) is given."""
    value = request.GET.get("month", "")
    return value if MONTH.match(value) else period_of(month_first(timezone.localdate()))


def _method_columns(method: str) -> tuple[Column, Column]:
    """A method's count and amount columns of the by-method table."""
    label = Payment.Method(method).label
    return (Column(f"{label} payments", lambda r: r.counts[method], "int"),
            Column(f"{label} (KES)", lambda r: r.amounts[method], "money"))


def _sheets(months: list[MonthFigures], methods: list[MethodMonth], days: list[Day], flagged: list[StatusRow],
            payments: Iterable[Payment]) -> dict[str, tuple[str, list[Column], Iterable[Any]]]:
    """Every table of the page as (sheet title, columns, rows), by its `?table=` name."""
    method_columns = [col for m in METHODS for col in _method_columns(m)]
    return {
        "months": ("Billed vs collected", [
            Column("Month", lambda r: r.period), Column("Billed (KES)", lambda r: r.billed, "money"),
            Column("Collected (KES)", lambda r: r.collected, "money"),
            Column("Collection efficiency (%)", lambda r: r.efficiency_percent, "percent")], months),
        "methods": ("By method", [Column("Month", lambda r: r.period), *method_columns,
                                  Column("Total payments", lambda r: r.payments, "int"),
                                  Column("Total (KES)", lambda r: r.total, "money")], methods),
        "days": ("By day", [Column("Day", lambda r: r.day, "date"), Column("Payments", lambda r: r.payments, "int"),
                            Column("Collected (KES)", lambda r: r.amount, "money")], days),
        "exceptions": ("Unmatched and reversed", [
            Column("Status", lambda r: r.label), Column("Payments", lambda r: r.payments, "int"),
            Column("Amount (KES)", lambda r: r.amount, "money")], flagged),
        "payments": ("The payments", [
            Column("Receipt", lambda p: p.receipt), Column("Paid", lambda p: p.paid_at, "datetime"),
            Column("Method", lambda p: p.get_method_display()), Column("Status", lambda p: p.get_status_display()),
            Column("Account", lambda p: p.client.account_number if p.client else p.account_reference),
            Column("Client", lambda p: p.client.full_name if p.client else ""),
            Column("Amount (KES)", lambda p: p.amount, "money")], payments),
    }


def _charts(months: list[MonthFigures], methods: list[MethodMonth], days: list[Day]) -> dict[str, object]:
    labels = [m.label for m in months]
    return {
        "money_chart": grouped_bar_chart(labels, [("Billed", [m.billed for m in months]),
                                                  ("Collected", [m.collected for m in months])]),
        "efficiency_chart": grouped_bar_chart(labels, [("Collection efficiency", [
            m.efficiency_percent or Decimal(0) for m in months])], unit="%"),
        "method_chart": grouped_bar_chart(labels, [(str(m.label), [r.amounts[m] for r in methods]) for m in METHODS]),
        "day_chart": grouped_bar_chart([str(d.day.day) for d in days], [("Collected", [d.amount for d in days])]),
    }


@require_capability("reports.view")
def page(request: HttpRequest) -> HttpResponseBase:
    fresh = figures_fresh()
    n, month = _months(request), _month(request)
    months = billed_vs_collected(n)
    periods = [m.period for m in months]
    methods, days, flagged = by_method(periods), by_day(month), exceptions(periods)
    status = request.GET.get("status", "")
    status = status if status in EXCEPTION_STATUSES else ""
    payments = exception_payments(periods, status)
    sheets = _sheets(months, methods, days, flagged, chunked(payments))  # the list read only when downloaded
    if fmt := export_format(request):
        if fmt == "xlsx":
            return xlsx_response(f"collections-{n}-months", list(sheets.values()))
        table = request.GET.get("table", "")
        table = table if table in TABLES else TABLES[0]
        _title, columns, rows = sheets[table]
        return csv_response(f"collections-{table}", columns, rows)
    paginator = Paginator(payments, PAGE_SIZE)
    if not fresh.stale:  # the figures are the payments' now: their count is the list's (no COUNT query)
        paginator.count = sum(x.payments for x in flagged if not status or x.status == status)
    listing = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return report_page(request, "reports/collections.html", "collections", {
        "months": months, "months_n": n, "month_choices": MONTHS, "methods": methods, "method_names": METHODS,
        "days": days, "month": month, "month_label": period_label(month), "flagged": flagged,
        "day_total": sum((d.amount for d in days), Decimal("0.00")), "day_payments": sum(d.payments for d in days),
        "listing": listing, "status": status, "statuses": [(s, Payment.Status(s).label) for s in EXCEPTION_STATUSES],
        "querystring": query.urlencode(), "first_label": period_label(periods[0]),
        "last_label": period_label(periods[-1]), "months_recent": list(reversed(months)),
        **_charts(months, methods, days)}, fresh)
