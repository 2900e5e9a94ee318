"""The cookie notice: essential cookies (session, CSRF, this choice) only, until a visitor allows
analytics. The choice is kept in the `cookie_consent` cookie (itself a preference, so essential)
and, for a signed-in portal client, also recorded as their consent to the "analytics" purpose."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

COOKIE_NAME = "cookie_consent"
ESSENTIAL, ANALYTICS = "essential", "analytics"
CHOICES = (ESSENTIAL, ANALYTICS)
COOKIE_MAX_AGE = 365 * 24 * 3600  # asked again after a year


def cookie_choice(request: HttpRequest) -> str:
    """"essential", "analytics", or "" before the visitor has chosen."""
    value = request.COOKIES.get(COOKIE_NAME, "")
    return value if value in CHOICES else ""


def cookie_choice_set(response: HttpResponse, request: HttpRequest, choice: str) -> None:
    if choice not in CHOICES:
        raise ValueError(f"unknown cookie choice {choice!r}")
    response.set_cookie(COOKIE_NAME, choice, max_age=COOKIE_MAX_AGE, samesite="Lax", httponly=True,
                        secure=settings.SESSION_COOKIE_SECURE)


def cookie_consent_record(*, request: HttpRequest, choice: str) -> bool:
    """For a signed-in portal client: the choice becomes a Consent row (topic analytics, source
    cookie_banner, with the privacy policy version in force). True when one was recorded."""
    from accounts.permissions import has_capability
    from clients.selectors import own_client
    from notifications.services import consent_record
    from tenants.selectors import current_policy_version

    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.schema_name == "public" or not has_capability(request.user, "portal.use"):
        return False
    client = own_client(request.user)
    if client is None:
        return False
    return bool(consent_record(client_id=client.pk, choices={"analytics": choice == ANALYTICS},
                               source="cookie_banner", actor=request.user,
                               policy_version=current_policy_version("privacy").version))


def cookie_context(request: HttpRequest) -> dict[str, Any]:
    """Template context: whether to show the notice, and the analytics script only once allowed."""
    choice = cookie_choice(request)
    tenant = getattr(request, "tenant", None)
    suspended = bool(getattr(tenant, "is_suspended", False))  # its domain answers nothing but the notice
    return {
        "cookie_choice": choice,
        "cookie_banner": not choice and not suspended and not request.path.startswith("/cookies/"),
        "analytics_script_url": settings.ANALYTICS_SCRIPT_URL if choice == ANALYTICS else "",
        "cookie_analytics_src": settings.ANALYTICS_SCRIPT_URL,
    }
