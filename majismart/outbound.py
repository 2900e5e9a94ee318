"""Outgoing HTTP to the vendors (Daraja, Africa's Talking, Paystack) and their local stand-ins."""

from __future__ import annotations

import urllib.request
from http.client import HTTPResponse
from urllib.parse import urlsplit

ALLOWED_SCHEMES = ("https", "http")  # http: the local stand-ins on 127.0.0.1 in development and tests


def urlopen(url: str, *, method: str = "GET", data: bytes | None = None, headers: dict[str, str] | None = None,
            timeout: float) -> HTTPResponse:
    """urllib's urlopen for web URLs only: a configured URL with another scheme (`file:`, `ftp:`)
    is refused, never opened. HTTP errors raise urllib.error.HTTPError as urllib does."""
    scheme = urlsplit(url).scheme
    if scheme not in ALLOWED_SCHEMES:
        raise ValueError(f"refusing to open a {scheme or 'scheme-less'} URL")
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310 - checked above
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - the scheme is checked above
