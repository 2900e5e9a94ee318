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

            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["redis"] = f"error: {exc.__class__.__name__}"
    else:
        checks["redis"] = "not configured (tasks run eagerly)"
    healthy = all(v == "ok" or v.startswith("not configured") for v in checks.values())
    return {"status": "ok" if healthy else "error", "checks": checks}
