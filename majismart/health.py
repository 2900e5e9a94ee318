"""/healthz: whether this web process can serve.

PostgreSQL down: 503 (nothing can be served). Redis down: 200 with status "degraded" and the
reason: pages, logins, the API and payment callbacks go on without it (the cache falls back to
memory, task messages wait in PostgreSQL until the broker is back), so a load balancer or
orchestrator must not take the web out of service for it; the report still says so.

The same holds for the workers and the callback backlog: a queue whose worker has not beaten
lately (majismart.celery.worker_heartbeat) or callbacks waiting too long make the report
"degraded", never 503 (the web still takes callbacks into the inbox; taking it out would lose
them). `workers` gives each queue's last heartbeat age in seconds (null: never seen).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection

# Checks the apps add (AppConfig.ready): name -> () -> (ok, text). Not ok: "degraded".
CHECKS: dict[str, Callable[[], tuple[bool, str]]] = {}


def heartbeat_ages() -> dict[str, float | None]:
    """Seconds since each queue's worker last beat (None: never, or not within a day)."""
    import redis

    from majismart.celery import heartbeat_key
    from majismart.queues import all_queues

    queues = all_queues()
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    beats = client.mget([heartbeat_key(queue) for queue in queues])
    now = time.time()
    return {queue: None if beat is None else round(max(0.0, now - float(beat)), 1) for queue, beat in zip(queues, beats, strict=True)}


def _workers_check(report: dict[str, Any]) -> str:
    from majismart.celery import HEARTBEAT_STALE_AFTER

    try:
        ages = heartbeat_ages()
    except Exception as exc:  # noqa: BLE001 - Redis away: said under "redis" already
        return f"unknown: {exc.__class__.__name__}"
    report["workers"] = ages
    stale = [f"{queue} ({'never seen' if age is None else f'{age:.0f} s ago'})" for queue, age in ages.items()
             if age is None or age > HEARTBEAT_STALE_AFTER]
    return f"stale: {', '.join(stale)} (their tasks wait in the queue)" if stale else "ok"


def health_report() -> dict[str, Any]:
    report: dict[str, Any] = {}
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = f"error: {exc.__class__.__name__}"
    if settings.REDIS_URL:
        try:
            import redis

            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["redis"] = f"error: {exc.__class__.__name__} (tasks wait in the database until it is back)"
    else:
        checks["redis"] = "not configured (tasks run eagerly)"
    degraded = checks["redis"].startswith("error")
    if checks["redis"] == "ok" and not settings.CELERY_TASK_ALWAYS_EAGER:
        checks["workers"] = _workers_check(report)
        degraded = degraded or checks["workers"] != "ok"
    if checks["database"] == "ok":
        for name, check in CHECKS.items():
            try:
                ok, checks[name] = check()
            except Exception as exc:  # noqa: BLE001 - a check that fails says so; the others still run
                ok, checks[name] = False, f"unknown: {exc.__class__.__name__}"
            degraded = degraded or not ok
    if checks["database"] != "ok":
        status = "error"
    elif degraded:
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "checks": checks, **report}
