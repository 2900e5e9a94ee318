"""A Redis cache that never takes the site down with it.

Everything the project keeps in the cache can be lost or rebuilt: the policy in force (read
again from PostgreSQL), Daraja's OAuth token (asked for again), rate-limit counters, the API
key's hourly roll-up, import progress. So while Redis cannot be reached, each process keeps
those values in its own memory instead, and a page, a login or an API call answers as fast as
ever. After one failure the process leaves Redis alone for a few seconds (majismart.breaker), so
an outage, or a network cut that swallows packets, costs one short timeout per process, not one
per call.

Limits while Redis is away: counters are per process (rate limits are approximate), and a value
written during the outage is not seen by other processes. Both end when Redis is back.
"""

from __future__ import annotations

from typing import Any

import redis
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

from majismart.breaker import Breaker

UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


_breakers: dict[str, Breaker] = {}


def breaker_for(server: str) -> Breaker:
    """One breaker per Redis server and process (the cache aliases share it)."""
    return _breakers.setdefault(server, Breaker(f"Redis cache at {server.split('@')[-1]}"))


def _resilient(name: str):  # type: ignore[no-untyped-def]
    def method(self: ResilientRedisCache, *args: Any, **kwargs: Any) -> Any:
        if self._breaker.is_open:
            return getattr(self._fallback, name)(*args, **kwargs)
        try:
            result = getattr(RedisCache, name)(self, *args, **kwargs)
        except UNREACHABLE as exc:
            self._breaker.trip(exc)
            return getattr(self._fallback, name)(*args, **kwargs)
        self._breaker.succeeded()
        return result

    method.__name__ = name
    return method


class ResilientRedisCache(RedisCache):
    """Django's Redis cache, falling back to this process's memory while Redis is unreachable."""

    _servers: list[str]  # set by RedisCache.__init__ (the LOCATION list); not in django-stubs

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        params = {**params, "OPTIONS": {**DEFAULT_OPTIONS, **params.get("OPTIONS", {})}}
        super().__init__(server, params)
        first = self._servers[0]
        self._breaker = breaker_for(first)
        self._fallback = LocMemCache(f"redis-fallback:{first}:{params.get('KEY_PREFIX', '')}",
                                     {k: v for k, v in params.items() if k != "OPTIONS"})

    add = _resilient("add")
    get = _resilient("get")
    set = _resilient("set")
    touch = _resilient("touch")
    delete = _resilient("delete")
    get_many = _resilient("get_many")
    has_key = _resilient("has_key")
    incr = _resilient("incr")
    set_many = _resilient("set_many")
    delete_many = _resilient("delete_many")
    clear = _resilient("clear")


# A cache answer is worth waiting for only briefly: a healthy Redis on the same network answers
# in well under a millisecond; a lost one must not hold a request for the kernel's TCP timeouts.
DEFAULT_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
