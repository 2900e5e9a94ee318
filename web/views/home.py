"""The provider dashboard's home page: what the viewer's role needs first, drawn from the apps
below (payments' figures: money, the reading round, the set-up checklist)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import APIKey
from accounts.permissions import has_capability, require_capability
from payments.views.home import home_figures


@require_capability("dashboard.view")
def home(request: HttpRequest) -> HttpResponse:
    """The money for owner, manager and accountant, the reading round for whoever reads meters,
    the set-up checklist for owner and manager."""
    context: dict[str, object] = {"active": "home", **home_figures(request)}
    if has_capability(request.user, "api_keys.manage"):
        context["api_key_count"] = APIKey.objects.active().count()
    return render(request, "dashboard/home.html", context)
