"""Placeholder until this report's page lands (issue 20, in progress)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from accounts.permissions import require_capability
from reports.views.common import report_page


@require_capability("reports.view")
def page(request: HttpRequest) -> HttpResponse:
    return report_page(request, "reports/_todo.html", "readings", {})
