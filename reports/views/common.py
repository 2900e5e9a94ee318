"""What every report page shares: the tabs, the figures' freshness, the period picker and the
download links (`?export=csv|xlsx` on any report page gives its table(s) with the same filters)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from majismart.exports import FORMATS
from payments.selectors import add_months, month_first, period_label, period_of
from reports.api import PERIOD
from reports.figures import Freshness, figures_fresh, latest_billing_period
from reports.models import BilledCell

TABS = (
    ("overview", "reports", "Overview"),
    ("collections", "report_collections", "Collections"),
    ("aging", "report_aging", "Arrears & aging"),
    ("billing", "report_billing", "Billing"),
    ("consumption", "report_consumption", "Consumption"),
    ("readings", "report_readings", "Meter reading"),
    ("nrw", "report_nrw", "Non-revenue water"),
    ("regulator", "report_regulator", "Regulator pack"),
)


def export_format(request: HttpRequest) -> str:
    """`csv` or `xlsx` when the request asks for a download, else ''."""
    fmt = request.GET.get("export", "")
    return fmt if fmt in FORMATS else ""


def periods_billed() -> list[str]:
    """Every period with bills, newest first (for the period pickers)."""
    return list(BilledCell.objects.order_by("-period").values_list("period", flat=True).distinct())


def chosen_period(request: HttpRequest) -> str:
    """The `?period=` asked for when it is a real YYYY-MM, else the latest billed period."""
    period = request.GET.get("period", "")
    return period if PERIOD.match(period) else latest_billing_period()


def recent_periods(months: int, *, today: Any = None) -> list[str]:
    """The last `months` calendar months up to this one, oldest first."""
    last = month_first(today or timezone.localdate())
    return [period_of(add_months(last, i - months + 1)) for i in range(months)]


def report_page(request: HttpRequest, template: str, tab: str, context: dict[str, Any],
                fresh: Freshness | None = None) -> HttpResponse:
    """Render a report page with the shared parts."""
    query = request.GET.copy()
    query.pop("export", None)
    query.pop("page", None)
    return render(request, template, {
        "active": "reports", "tab": tab, "tabs": TABS, "fresh": fresh or figures_fresh(),
        "export_query": query.urlencode(), "period_label": period_label, **context})
