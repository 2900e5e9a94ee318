"""The home pages: the provider dashboard's (what the viewer's role needs first: payments' figures,
the reading round, the set-up checklist) and the client portal's (arrears' word on a disconnection,
billing's balance and latest bill), each drawn from the apps below."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import APIKey
from accounts.permissions import has_capability, require_capability
from arrears.views.portal import home_panel as arrears_panel
from billing.views.portal import home_panel as billing_panel
from fieldwork.selectors import request_counts, work_orders
from payments.views.home import home_figures


@require_capability("dashboard.view")
def home(request: HttpRequest) -> HttpResponse:
    """The money for owner, manager and accountant, the reading round for whoever reads meters,
    the open work orders for whoever does field work and the service requests for whoever
    answers them, the set-up checklist for owner and manager."""
    context: dict[str, object] = {"active": "home", **home_figures(request)}
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
    panels = [p for p in (arrears_panel(request), billing_panel(request)) if p is not None]
    return render(request, "portal/home.html", {"active": "home", "panels": panels})
