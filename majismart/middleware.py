from __future__ import annotations

import json
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

from majismart.health import health_report

# Money must never be refused at the door: Safaricom and Paystack keep delivering payments to a
# suspended provider, and those callbacks are stored and reconciled later.
# Both the API.md paths and the ones registered with Daraja (no "mpesa" in them).
SUSPENSION_EXEMPT_PREFIXES = ("/payments/mpesa/", "/payments/c2b/", "/payments/stk/", "/payments/paystack/",
                              "/static/")


class HealthCheckMiddleware:
    """Answers /healthz for any Host (load balancers and docker probe by IP or `localhost`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path in ("/healthz", "/healthz/"):
            report = health_report()
            status = 503 if report["status"] == "error" else 200
            return HttpResponse(json.dumps(report), status=status, content_type="application/json")
        return self.get_response(request)


class SuspendedProviderMiddleware:
    """A suspended provider's domain shows a clear page; its API answers 403."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        if tenant is not None and tenant.is_suspended and not request.path.startswith(
            SUSPENSION_EXEMPT_PREFIXES
        ):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": "This provider's account is suspended."}, status=403)
            response = TemplateResponse(
                request, "tenants/suspended.html", {"provider": tenant}, status=403
            )
            return response.render()
        return self.get_response(request)
