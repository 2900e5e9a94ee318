"""The client portal (clients of a provider see their own account here).

The home page is built from panels that higher apps register (billing: balance and latest
bill; later payments): the portal knows no app above it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import require_capability

# Each panel takes the request and returns (template name, context) or None to show nothing.
PORTAL_HOME_PANELS: list[Callable[[HttpRequest], tuple[str, dict] | None]] = []


@require_capability("portal.use")
def home(request: HttpRequest) -> HttpResponse:
    panels = [p for p in (panel(request) for panel in PORTAL_HOME_PANELS) if p is not None]
    return render(request, "portal/home.html", {"active": "home", "panels": panels})
