"""Prometheus metrics at /metrics, with prometheus_client (the Prometheus project's own client).

Why it and not django-prometheus: we need few series, labelled our way (the view's name, never
the path with its ids and tokens), plus figures computed at scrape time from every provider's
schema in one statement (callback backlog, failed messages) and from Redis (queue lengths);
prometheus_client gives exactly the histograms, the custom-collector interface and the
multiprocess mode gunicorn's several workers need, without instrumenting every query, cache
call and model as django-prometheus does.

Multiprocess: with PROMETHEUS_MULTIPROC_DIR set (docker-compose sets it for web), each
gunicorn worker writes its samples to files there and a scrape adds them up, whichever worker
answers (gunicorn.conf.py empties the directory at start and tidies after a worker exits).
Without it (runserver, tests) the process's own samples are served.

Access: /metrics answers on any Host (as /healthz: Prometheus scrapes by address) and only with
`Authorization: Bearer <METRICS_TOKEN>`; with no METRICS_TOKEN set it is off (404). A token
rather than an address check: behind the TLS proxy every request comes from a private address.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# Not in prometheus_client's global registry: each scrape builds its own (below).
REQUEST_SECONDS = Histogram(
    "majismart_http_request_duration_seconds", "Time to answer a request, by view (URL name) and method.",
    ["view", "method"], registry=None,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
BILLING_RUN_SECONDS = Histogram(
    "majismart_billing_run_duration_seconds",
    "Time a billing run took, by step: start (the draft computed), recompute, finalize.",
    ["step"], registry=None,
    buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0))

# Figures computed at each scrape, added by the apps (AppConfig.ready): each returns metric
# families (payments: the callback inbox backlog; notifications: messages failed).
SCRAPE_COLLECTORS: list[Callable[[], Iterable[Metric]]] = []


def view_label(request: HttpRequest) -> str:
    """The view a request reached, by its URL name (`payments:c2b_confirmation`) or, unnamed, its
    route pattern: never the path itself, whose ids and tokens would make a series per request."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unresolved"
    return match.view_name or match.route or "unnamed"


def queue_lengths() -> Iterator[Metric]:
    """Messages waiting in each Celery queue (Redis LLEN, the priority lists kombu keeps beside
    each queue included), read now."""
    family = GaugeMetricFamily("majismart_celery_queue_length", "Task messages waiting in a Celery queue.",
                               labels=["queue"])
    if settings.REDIS_URL:
        import redis

        from majismart.queues import all_queues

        queues = [settings.CELERY_TASK_DEFAULT_QUEUE, *all_queues()]
        try:
            client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
            with client.pipeline(transaction=False) as pipe:
                for queue in queues:
                    for name in (queue, *(f"{queue}\x06\x16{priority}" for priority in (3, 6, 9))):
                        pipe.llen(name)
                lengths = pipe.execute()
        except redis.RedisError as exc:
            log.warning("Queue lengths unavailable: %s", exc)
        else:
            for n, queue in enumerate(queues):
                family.add_metric([queue], sum(lengths[4 * n:4 * n + 4]))
    yield family


class _AtScrape(Collector):
    def collect(self) -> Iterable[Metric]:
        yield from queue_lengths()
        for collect in SCRAPE_COLLECTORS:
            try:
                yield from collect()
            except Exception:  # one figure failing must not take the others with it
                log.exception("Metrics collector %s failed", getattr(collect, "__name__", collect))


def scrape() -> bytes:
    """The exposition text: this process's samples (or every gunicorn worker's, in multiprocess
    mode) and the figures computed now."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_SECONDS)
        registry.register(BILLING_RUN_SECONDS)
    registry.register(_AtScrape())
    return generate_latest(registry)


def _authorized(request: HttpRequest) -> bool:
    given = request.headers.get("Authorization", "")
    return given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), settings.METRICS_TOKEN.encode())


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    """Times every request by view (REQUEST_SECONDS), and answers /metrics for any Host."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path in ("/metrics", "/metrics/"):
            if not settings.METRICS_TOKEN:
                return HttpResponse("Not found: metrics are off (set METRICS_TOKEN).\n", status=404,
                                    content_type="text/plain")
            if not _authorized(request):
                response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
                response["WWW-Authenticate"] = 'Bearer realm="metrics"'
                return response
            return HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in METHODS else "other"  # a client's made-up verbs: one series
        REQUEST_SECONDS.labels(view_label(request), method).observe(time.perf_counter() - started)
        return response


def gauge(name: str, documentation: str, value: float | None, **labels: Any) -> GaugeMetricFamily:
    """One gauge family with one sample (none when `value` is None): for the apps' collectors."""
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    if value is not None:
        family.add_metric([str(v) for v in labels.values()], value)
    return family
