"""Remembers who is on the other end of the current request (IP address, user agent) for the
audit log: `accounts.services.audit` reads it, so no caller has to pass the request down.
Celery tasks and management commands run outside any request and record none."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse

USER_AGENT_MAX = 400


@dataclass(frozen=True)
class RequestContext:
    ip: str
    user_agent: str


_current: ContextVar[RequestContext | None] = ContextVar("majismart_audit_request", default=None)


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT reverse proxies of ours the address that many
    hops from the right of X-Forwarded-For (hops further left are the caller's own words); the
    same rule as the callback screen and axes' lockout."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        if len(hops) >= count:
            try:
                return str(ipaddress.ip_address(hops[-count]))
            except ValueError:
                return remote
    return remote


def current_request_context() -> RequestContext | None:
    return _current.get()


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current.set(RequestContext(
            ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX]))
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)
