"""Messages that failed for good, over every provider, for the Prometheus scrape (registered in
NotificationsConfig.ready): one statement across the schemas, on the last day's messages (the
`created` index), so the figure moves when sending starts to fail rather than growing forever."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from majismart.sql import across_schemas

_FAILED_SQL = ("SELECT m.channel, count(*) FROM {q}.notifications_message m "
               "WHERE m.created > now() - interval '1 day' AND m.status = 'failed' GROUP BY m.channel")


def failed_messages_metrics() -> Iterator[Metric]:
    failed: Counter[str] = Counter({"sms": 0, "email": 0})
    for _, channel, count in across_schemas(_FAILED_SQL):
        failed[channel] += count
    family = GaugeMetricFamily("majismart_messages_failed",
                               "Messages created in the last 24 hours that failed for good, by channel (every provider).",
                               labels=["channel"])
    for channel, count in sorted(failed.items()):
        family.add_metric([channel], count)
    yield family
