"""The one place that says which role may do what, used by dashboard views and the API alike.

Every URL of a provider's domain declares who may open it, where its view is written:
- `@require_capability("clients.view")` on a page (portal pages: `"portal.use"`), with another
  capability for a method where it asks more (`@require_capability("clients.view", POST="clients.manage")`);
- `required_capability = "..."` on an API view (or a dict of them by HTTP method);
- `@public` for what anyone may open, signed in or not (login, password reset, pay links,
  callbacks carrying their token, policy texts);
- `@signed_in` for what any signed-in user may open, staff or client.
tests/accounts/test_authorization_matrix.py walks the tenant URLconf and fails on a view that declares none.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from rest_framework.permissions import BasePermission

from accounts.models import STAFF_ROLES, Role

_FINANCE = frozenset({Role.OWNER, Role.MANAGER, Role.ACCOUNTANT})
_OPERATIONS = frozenset({Role.OWNER, Role.MANAGER})

CAPABILITIES: dict[str, frozenset[str]] = {
    "dashboard.view": STAFF_ROLES,
    "clients.view": STAFF_ROLES,
    "clients.manage": _OPERATIONS,
    # National IDs: not for meter readers (they walk routes, they don't need identities).
    "clients.view_sensitive": _FINANCE,
    "meters.manage": _OPERATIONS,
    "readings.record": frozenset({Role.OWNER, Role.MANAGER, Role.METER_READER}),
    "readings.review": _OPERATIONS,
    "billing.view": _FINANCE,
    "billing.run": _FINANCE,
    "billing.manage_tariffs": _OPERATIONS,
    "payments.view": _FINANCE,
    "payments.record": _FINANCE,
    # Undoing money already on an account is for the people who run the provider.
    "payments.reverse": _OPERATIONS,
    "reports.view": _FINANCE,
    # The message log shows who was told what about their money; templates and broadcasts speak
    # for the provider.
    "messages.view": _FINANCE,
    "messages.send": _OPERATIONS,
    "settings.view": STAFF_ROLES,
    "settings.manage": frozenset({Role.OWNER}),
    "api_keys.manage": frozenset({Role.OWNER}),
    # The team page and /staff/: owners and managers. Which people and roles a manager may touch
    # (everyone but owners; never making an owner) is decided in accounts/staff.py.
    "staff.manage": _OPERATIONS,
    # The audit log shows who looked at whose data, from where: for the people who run the provider.
    "audit.view": _OPERATIONS,
    "api.use": STAFF_ROLES,
    "portal.use": frozenset({Role.CLIENT}),
    # Data-subject requests are the provider's legal duty as controller: the people who run it
    # answer them; erasing a person's data and exporting everything are the owner's and manager's.
    "privacy.requests": _OPERATIONS,
    "privacy.export_all": frozenset({Role.OWNER}),
    # Collections and field work (issue 19). The fee catalogue is the provider's price list;
    # accountants charge fees and make payment plans; starting a disconnection is the people who
    # run the provider's call; field staff (meter readers) carry out work orders but start none;
    # writing off a bad debt is the owner's.
    "fees.manage": _OPERATIONS,
    "fees.charge": _FINANCE,
    "plans.manage": _FINANCE,
    "disconnections.view": _FINANCE,
    "disconnections.manage": _OPERATIONS,
    "work_orders.view": frozenset({Role.OWNER, Role.MANAGER, Role.METER_READER}),
    "work_orders.complete": frozenset({Role.OWNER, Role.MANAGER, Role.METER_READER}),
    "work_orders.manage": _OPERATIONS,
    "service_requests.view": _FINANCE,
    "service_requests.manage": _FINANCE,
    "write_offs.manage": frozenset({Role.OWNER}),
    # Leak alerts (issue 21): every staff member sees them on the client page; the people who run
    # the provider set the rules and close an alert.
    "leak_alerts.manage": _OPERATIONS,
}


def has_capability(principal: Any, capability: str) -> bool:
    """True when `principal` (a user or an API key principal) may use `capability`."""
    allowed = CAPABILITIES[capability]  # KeyError on a typo: a programming error, not a denial
    if principal is None or not getattr(principal, "is_authenticated", False):
        return False
    if not getattr(principal, "is_active", True):
        return False
    return getattr(principal, "role", None) in allowed


PUBLIC = "public"
SIGNED_IN = "signed_in"

ViewT = Any


def access(kind: str) -> Callable[[ViewT], ViewT]:
    """Declares who may open a view (function or class) that enforces it itself: `PUBLIC` or
    `SIGNED_IN`. Prefer `public` / `signed_in` / `require_capability`."""
    if kind not in (PUBLIC, SIGNED_IN):
        raise ValueError(kind)

    def declare(view: ViewT) -> ViewT:
        view.url_access = kind
        return view

    return declare


public = access(PUBLIC)


def signed_in(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """View decorator: any signed-in user, staff or client (the login page first for anyone else)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    wrapped.url_access = SIGNED_IN  # type: ignore[attr-defined]
    return wrapped


def capability_for(required: str | dict[str, str], method: str) -> str:
    """The capability a view's `required_capability` (a capability, or a dict of them by method with
    "*" for the rest) asks of a request made with `method`."""
    if isinstance(required, dict):
        return required.get(method, required.get("*", "api.use"))
    return required


def view_access(callback: Any) -> str | dict[str, str] | None:
    """What a URL pattern's view declares (a capability, a dict of them by method, `PUBLIC`,
    `SIGNED_IN`), or None when it declares nothing."""
    for holder in (callback, getattr(callback, "cls", None), getattr(callback, "view_class", None)):
        if holder is None:
            continue
        for name in ("required_capability", "url_access"):
            declared = getattr(holder, name, None)
            if declared is not None:
                return declared
    return None


def require_capability(capability: str, **by_method: str) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """View decorator: log in first, then 403 unless the user's role has `capability`, and, for
    a method named in `by_method` (`POST="clients.manage"`), that method's capability too."""
    for name in (capability, *by_method.values()):
        CAPABILITIES[name]  # fail at import on a typo
    declared: str | dict[str, str] = {"*": capability, **by_method} if by_method else capability

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_capability(request.user, capability):
                raise PermissionDenied
            if request.method in by_method and not has_capability(request.user, by_method[request.method]):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.required_capability = declared  # type: ignore[attr-defined]
        return wrapped

    return decorator


class StaffAPIPermission(BasePermission):
    """API views name `required_capability` (default `api.use`), or a dict of them by HTTP
    method; the role map decides."""

    def has_permission(self, request: Any, view: Any) -> bool:
        required = capability_for(getattr(view, "required_capability", "api.use"), request.method)
        return has_capability(request.user, "api.use") and has_capability(request.user, required)
