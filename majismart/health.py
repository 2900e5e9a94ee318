"""/healthz: whether this web process can serve.

PostgreSQL down: 503 (nothing can be served). Redis down: 200 with status "degraded" and the
reason: pages, logins, the API and payment callbacks go on without it (the cache falls back to
memory, task messages wait in PostgreSQL until the broker is back), so a load balancer or
orchestrator must not take the web out of service for it; the report still says so.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection


def health_report() -> dict[str, Any]:
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
    if checks["database"] != "ok":
        status = "error"
    elif checks["redis"].startswith("error"):
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "checks": checks}
