from __future__ import annotations

import json
from collections.abc import Callable

from csp.constants import UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
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


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware (settings.CONTENT_SECURITY_POLICY), plus one exception: Django's
    admin (platform admins, on the platform's own domain) ships inline styles of its own
    (change_list.html's <style>, style attributes), so its pages alone may keep inline styles.
    Scripts stay 'self' there too."""

    def get_policy_parts(self, request: HttpRequest, response: HttpResponse,  # type: ignore[override]
                         report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and parts.update is None and request.path_info.startswith("/admin/"):
            parts.update = {"style-src": [UNSAFE_INLINE]}
        return parts


# Our static files keep the lifetimes whitenoise gives them. (Public marketing and policy pages
# could be cached too, but they show the cookie notice by cookie and carry CSRF tokens: no-store.)
CACHEABLE_PREFIXES = ("/static/",)


class SecurityHeadersMiddleware:
    """Permissions-Policy on every answer, and `Cache-Control: no-store` on every answer that does
    not choose its own caching: dashboard, portal and API pages carry personal data, and a shared
    computer's back button or a caching proxy must not show them to the next person. A view that
    may be cached says so with Cache-Control itself (e.g. `cache_control(public=True, ...)`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        if "Cache-Control" not in response and not request.path.startswith(CACHEABLE_PREFIXES):
            response["Cache-Control"] = "no-store"
        return response


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
