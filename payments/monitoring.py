"""The callback inbox as operators watch it: how many callbacks wait to be processed, over every
provider, and how long the oldest has waited. One statement across the schemas (not one per
provider), read at each Prometheus scrape and by /healthz (registered in PaymentsConfig.ready)."""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from prometheus_client.core import Metric

from majismart.metrics import gauge
from majismart.sql import across_schemas

# Waiting rows are few and the partial index inbox_waiting holds exactly them.
_BACKLOG_SQL = ("SELECT count(*), extract(epoch FROM now() - min(i.received)) "
                "FROM {q}.payments_callbackinbox i WHERE i.status = 'received'")


def callback_backlog() -> tuple[int, float | None]:
    """(callbacks stored and not yet processed, seconds the oldest of them has waited or None)."""
    rows = across_schemas(_BACKLOG_SQL)
    ages = [float(age) for _, _, age in rows if age is not None]
    return sum(count for _, count, _ in rows), max(ages, default=None)


def callback_metrics() -> Iterator[Metric]:
    count, oldest = callback_backlog()
    yield gauge("majismart_callback_inbox_backlog", "Payment callbacks stored and not yet processed (every provider).",
                count)
    yield gauge("majismart_callback_inbox_oldest_age_seconds",
                "How long the oldest unprocessed payment callback has waited (0: none waiting).", oldest or 0.0)


def callback_health() -> tuple[bool, str]:
    count, oldest = callback_backlog()
    if not count:
        return True, "ok: none waiting"
    text = f"{count} waiting, the oldest for {oldest or 0:.0f} s"
    if (oldest or 0) > settings.HEALTH_CALLBACK_BACKLOG_SECONDS:
        return False, f"backlog: {text} (are the payments workers running?)"
    return True, f"ok: {text}"
