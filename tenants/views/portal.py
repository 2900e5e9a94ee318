"""The client portal (clients of a provider see their own account here)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import require_capability


@require_capability("portal.use")
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html", {"active": "home"})
