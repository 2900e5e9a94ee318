"""Rate limits: counters in the shared cache (Redis in production), so every web process counts
against the same limit, keyed by the schema (and the cache's own schema prefix), so one
provider's traffic never uses another's allowance.

- `hit(key, rate)`: one fixed-window counter, made atomic by Redis's INCR (`cache.incr`): two
  processes never lose each other's hits. Answers how many seconds to wait when over the limit.
- `limit_posts(scope, fields=...)`: a view decorator for the public forms (sign-up, login,
  portal registration, password reset, the pay link's STK push): POSTs per client address
  (`client_ip`, the TRUSTED_PROXY_COUNT rule) and per named account, phone or email (hashed in
  the key), answered with a 429 page in the site's look and `Retry-After`.
- `APIKeyThrottle`: DRF's throttle hook (a `Throttled` 429 with `Retry-After` from `wait()`,
  listed in the OpenAPI schema) over the same counter, per API key.

Rates are written `N/s`, `N/m`, `N/h` or `N/d` (`600/m`), read from settings at every call so
that a deployment (or a test) can change them.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils.crypto import salted_hmac
from rest_framework.throttling import BaseThrottle

from accounts.middleware import client_ip
from accounts.models import APIKey
from majismart.tenancy import connection

log = logging.getLogger(__name__)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"\s*(?P<count>\d+)\s*/\s*(?P<unit>[smhd])[a-z]*\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


def parse_rate(text: str) -> Rate:
    """`600/m` (or `600/min`, `10/hour`) -> Rate(600, 60); anything else is a clear error."""
    match = _RATE.fullmatch(text or "")
    if not match or int(match["count"]) < 1:
        raise ValueError(f"A rate limit is written N/s, N/m, N/h or N/d (N >= 1), not {text!r}.")
    return Rate(int(match["count"]), _UNITS[match["unit"].lower()])


def hit(key: str, rate: Rate) -> int | None:
    """Counts one hit on `key` in the current window of `rate`; None while within the limit,
    else the seconds until the window ends (at least 1: the `Retry-After`)."""
    now = time.time()
    window = int(now // rate.seconds)
    cache_key = f"ratelimit:{connection.schema_name}:{key}:{rate.seconds}:{window}"
    cache.add(cache_key, 0, timeout=rate.seconds + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=rate.seconds + 1)
        count = 1
    if count <= rate.count:
        return None
    return max(1, int((window + 1) * rate.seconds - now + 0.999))


def _identifier(value: str) -> str:
    """A form's account, phone or email as a key part: keyed-hashed (no personal data in Redis)."""
    return salted_hmac("majismart.ratelimit", value.strip().lower()).hexdigest()[:32]


def too_many(request: HttpRequest, wait: int) -> HttpResponse:
    """The 429 page: in the site's look and the reader's language, saying how long to wait."""
    response = render(request, "429.html", {"wait_minutes": max(1, (wait + 59) // 60)}, status=429)
    response["Retry-After"] = str(wait)
    return response


def form_wait(request: HttpRequest, scope: str, fields: tuple[str, ...] = ()) -> int | None:
    """Counts a POST to the form `scope` per client address and per each named field's value;
    the longest wait among the limits it is over, or None."""
    waits = [hit(f"form:{scope}:ip:{client_ip(request)}", parse_rate(settings.RATE_LIMIT_FORMS_PER_IP))]
    per_account = parse_rate(settings.RATE_LIMIT_FORMS_PER_ACCOUNT)
    for name in fields:
        value = request.POST.get(name, "")
        if value.strip():
            waits.append(hit(f"form:{scope}:{name}:{_identifier(value)}", per_account))
    over = [wait for wait in waits if wait is not None]
    return max(over) if over else None


ViewFunc = Callable[..., HttpResponseBase]


def limit_posts(scope: str, *, fields: tuple[str, ...] = ()) -> Callable[[ViewFunc], ViewFunc]:
    """A view decorator: POSTs to the view are limited per client address and per each of
    `fields` (e.g. the account number, phone or email the form names); GETs never are."""

    def decorate(view: ViewFunc) -> ViewFunc:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method == "POST":
                wait = form_wait(request, scope, fields)
                if wait is not None:
                    log.warning("Rate limited: %s form, retry after %ss", scope, wait)
                    return too_many(request, wait)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


class APIKeyThrottle(BaseThrottle):
    """RATE_LIMIT_API requests per API key (the key's id, in its provider's schema). Staff
    sessions on the API are people clicking through the dashboard and are not limited here."""

    def __init__(self) -> None:
        self._wait: int | None = None

    def allow_request(self, request: Any, view: Any) -> bool:
        if not isinstance(request.auth, APIKey):
            return True
        self._wait = hit(f"api:key:{request.auth.pk}", parse_rate(settings.RATE_LIMIT_API))
        if self._wait is not None:
            log.warning("Rate limited: API key mjs_%s, retry after %ss", request.auth.prefix, self._wait)
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait
