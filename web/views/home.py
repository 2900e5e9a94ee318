"""The home pages: the provider dashboard's (what the viewer's role needs first: the money, from
the report figures; the reading round; the set-up checklist) and the client portal's (arrears'
word on a disconnection, billing's balance and latest bill), each drawn from the apps below."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.models import APIKey
from accounts.permissions import has_capability, require_capability
from arrears.views.portal import home_panel as arrears_panel
from billing.views.portal import home_panel as billing_panel
from fieldwork.selectors import request_counts, work_orders
from majismart.charts import grouped_bar_chart
from meters.models import Reading
from meters.selectors import captured_this_month
from meters.views.portal import leak_panel
from payments.selectors import onboarding_checklist, period_of
from reports.figures import figures_fresh, money_at_a_glance
from reports.readings import Completion, completion
from reports.regulator import connections


@dataclass
class Round(Completion):
    """This month's reading round as the Meter reading report counts it (the round's client
    meters per zone and how many were read: reports.readings.completion, from the kept figures),
    and, for the meter reader walking it, what they captured themselves (live)."""

    month: date = date.min
    captured_by_user: int | None = None


def _round(user: object, mine: bool) -> Round:
    today = timezone.localdate()
    month = date(today.year, today.month, 1)
    figures = completion(period_of(month))
    return Round(figures.period, figures.zones, month, captured_this_month(user, today) if mine else None)


def _figures(request: HttpRequest) -> dict[str, object]:
    """Money for owner, manager and accountant (reports.view); the month's reading round, by zone,
    for those who read meters; the set-up checklist for owner and manager until it is done."""
    user = request.user
    sees_money = has_capability(user, "reports.view")
    reads = has_capability(user, "readings.record")
    fresh = figures_fresh()  # the report figures brought up to date first, when that is quick
    context: dict[str, object] = {
        "sees_money": sees_money, "reads_meters": reads, "fresh": fresh,
        # The round from the report figures; "captured by you" is for the meter reader walking it.
        "round": _round(user, mine=reads and not sees_money),
        "client_count": connections().active,  # the kept figures' count, as the regulator pack's
    }
    if has_capability(user, "readings.review"):
        context["review_count"] = Reading.objects.filter(status=Reading.Status.FLAGGED).count()
    if sees_money:
        money = money_at_a_glance(fresh=fresh)
        context["money"] = money
        context["chart"] = grouped_bar_chart(
            [m.label for m in money.months],
            [("Billed", [m.billed for m in money.months]), ("Collected", [m.collected for m in money.months])])
    if has_capability(user, "clients.manage"):  # owner and manager: the people setting the provider up
        checklist = onboarding_checklist()
        if not checklist.complete:
            context["checklist"] = checklist
    return context


@require_capability("dashboard.view")
def home(request: HttpRequest) -> HttpResponse:
    """The money for owner, manager and accountant, the reading round for whoever reads meters,
    the open work orders for whoever does field work and the service requests for whoever
    answers them, the set-up checklist for owner and manager."""
    context: dict[str, object] = {"active": "home", **_figures(request)}
    if has_capability(request.user, "work_orders.complete"):  # theirs and nobody's, as the field list
        context["my_orders"] = work_orders(status="open", assigned_to="mine", user=request.user).count()
    if has_capability(request.user, "service_requests.view"):
        context["request_counts"] = request_counts()
    if has_capability(request.user, "api_keys.manage"):
        context["api_key_count"] = APIKey.objects.active().count()
    return render(request, "dashboard/home.html", context)


@require_capability("portal.use")
def portal_home(request: HttpRequest) -> HttpResponse:
    """The client's account: what is urgent first (a disconnection under way), then the balance."""
    panels = [p for p in (arrears_panel(request), leak_panel(request), billing_panel(request)) if p is not None]
    return render(request, "portal/home.html", {"active": "home", "panels": panels})
