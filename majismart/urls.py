"""Helpers for building absolute URLs to a provider's own domain."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def domain_url(domain: str, path: str = "/", request: HttpRequest | None = None) -> str:
    port = settings.SITE_PORT or (request.get_port() if request is not None else "")
    suffix = "" if str(port) in ("", "80", "443") else f":{port}"
    scheme = request.scheme if request is not None and not settings.SITE_PORT else settings.SITE_SCHEME
    return f"{scheme}://{domain}{suffix}{path}"
