"""The provider dashboard's home page: what the viewer's role needs first, drawn from the apps
below (payments' figures: money, the reading round, the set-up checklist)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import APIKey
from accounts.permissions import has_capability, require_capability
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
