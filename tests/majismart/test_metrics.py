"""/metrics: a real scrape over HTTP shows every named series with the figures of the situation
made here; /healthz reports the workers' heartbeats and the callback backlog without taking the
web out of service for them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context
from prometheus_client.parser import text_string_to_metric_families

from devkit.testing import redis_url
from majismart.celery import HEARTBEAT_STALE_AFTER, app, heartbeat_key
from majismart.queues import all_queues
from notifications.models import Message
from payments.inbox import inbox_store
from payments.models import CallbackInbox
from tests.payments.test_payments import confirmation

TOKEN = "scrape-" + "x" * 32


@pytest.fixture
def metrics_on(settings):  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = TOKEN
    return settings


def scrape(host: str = "localhost") -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = Client(HTTP_HOST=host).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_without_a_token_and_refused_without_the_right_one(db, settings) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = ""
    assert Client(HTTP_HOST="localhost").get("/metrics").status_code == 404
    settings.METRICS_TOKEN = TOKEN
    for host in ("localhost", "10.0.0.7", "alpha.majismart.localhost"):
        client = Client(HTTP_HOST=host)
        refused = client.get("/metrics")
        assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 401
        assert client.get("/metrics", HTTP_AUTHORIZATION=TOKEN).status_code == 401
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_request_latency_is_labelled_by_view_never_by_path(metrics_on, alpha) -> None:  # type: ignore[no-untyped-def]
    before = scrape()
    web = Client(HTTP_HOST=alpha.domain)
    assert web.get("/accounts/login/").status_code == 200
    assert web.get("/accounts/login/").status_code == 200
    web.get("/pay/no-such-token-981273/")  # a pay link: its token must not become a label
    web.get("/no/such/page/5550123/")
    after = scrape()
    name = "majismart_http_request_duration_seconds_count"
    assert value(after, name, view="login", method="GET") - value(before, name, view="login", method="GET") == 2
    assert value(after, name, view="unresolved", method="GET") > value(before, name, view="unresolved", method="GET")
    assert value(after, "majismart_http_request_duration_seconds_bucket", view="login", method="GET", le="+Inf") >= 2
    labels = " ".join(str(key) for key in after)
    assert "981273" not in labels and "5550123" not in labels and "/accounts/login/" not in labels


def test_a_scrape_shows_the_backlog_failed_messages_and_queue_lengths(metrics_on, alpha, beta) -> None:  # type: ignore[no-untyped-def]
    samples = scrape()
    assert value(samples, "majismart_callback_inbox_backlog") == 0
    assert value(samples, "majismart_callback_inbox_oldest_age_seconds") == 0
    assert value(samples, "majismart_messages_failed", channel="sms") == 0
    with tenant_context(alpha):
        stored = inbox_store(kind="c2b_confirmation", body=json.dumps(confirmation("M-1", "10", "MTR0000001")).encode(),
                             headers={}, source_ip="196.201.214.200")
        CallbackInbox.objects.filter(pk=stored.pk).update(received=timezone.now() - timedelta(minutes=3))
        Message.objects.create(channel="sms", event="invoice", purpose="billing", client_id=1, recipient="+254700000001",
                               text="Your bill", status="failed", dedup_key="metrics:1")
    with tenant_context(beta):
        inbox_store(kind="stk_callback", body=b"{}", headers={}, source_ip=None)
        Message.objects.create(channel="email", event="invoice", purpose="billing", client_id=1,
                               recipient="a@example.com", text="Your bill", status="failed", dedup_key="metrics:2")
        Message.objects.create(channel="sms", event="invoice", purpose="billing", client_id=1, recipient="+254700000002",
                               text="Your bill", status="sent", dedup_key="metrics:3")
    connection.set_schema_to_public()
    samples = scrape(host=alpha.domain)  # the same on a provider's domain: one figure over every provider
    assert value(samples, "majismart_callback_inbox_backlog") == 2
    assert 170 < value(samples, "majismart_callback_inbox_oldest_age_seconds") < 3600
    assert value(samples, "majismart_messages_failed", channel="sms") == 1
    assert value(samples, "majismart_messages_failed", channel="email") == 1


@pytest.fixture
def own_queues(settings) -> Iterator[tuple[str, redis.Redis]]:  # type: ignore[no-untyped-def]
    """This test's Redis (configured or embedded) and a queue prefix of its own."""
    with redis_url() as url:
        settings.REDIS_URL = url
        was, app.conf.queue_prefix = app.conf.get("queue_prefix"), f"m{uuid.uuid4().hex[:6]}-"
        client = redis.Redis.from_url(url)
        try:
            yield app.conf.queue_prefix, client
        finally:
            client.delete(*all_queues(), *(heartbeat_key(queue) for queue in all_queues()))
            app.conf.queue_prefix = was


def test_a_scrape_shows_each_queues_length(metrics_on, own_queues, db) -> None:  # type: ignore[no-untyped-def]
    from billing.tasks import invoices_render_task

    prefix, broker = own_queues
    app.conf.task_always_eager = False
    try:
        with app.connection_for_write(metrics_on.REDIS_URL) as conn:
            for _ in range(3):  # routed to the documents queue (under this test's prefix)
                invoices_render_task.apply_async(([1],), connection=conn)
            app.send_task("payments.tasks.sweep_inbox", connection=conn, priority=6)  # kombu's priority list too
    finally:
        app.conf.task_always_eager = True
    samples = scrape()
    assert value(samples, "majismart_celery_queue_length", queue=f"{prefix}documents") == 3
    assert value(samples, "majismart_celery_queue_length", queue=f"{prefix}payments") == 1
    assert value(samples, "majismart_celery_queue_length", queue=f"{prefix}reports") == 0
    assert ("majismart_celery_queue_length", (("queue", f"{prefix}maintenance"),)) in samples


def test_a_billing_run_is_timed_by_step(metrics_on, tenant) -> None:  # type: ignore[no-untyped-def]
    from billing.runs import billing_run_finalize, billing_run_recompute, billing_run_start

    name = "majismart_billing_run_duration_seconds_count"
    before = scrape()
    run, created = billing_run_start(period="2026-09", actor=None)
    assert created
    billing_run_start(period="2026-09", actor=None)  # the existing run: nothing computed, nothing timed
    billing_run_recompute(run=run)
    billing_run_finalize(run=run)
    billing_run_finalize(run=run)  # already finalised: not timed again
    connection.set_schema_to_public()
    after = scrape()
    for step in ("start", "recompute", "finalize"):
        assert value(after, name, step=step) - value(before, name, step=step) == 1, step
    assert value(after, "majismart_billing_run_duration_seconds_sum", step="start") > 0


def test_healthz_reports_worker_heartbeats_and_stays_200(own_queues, db, settings) -> None:  # type: ignore[no-untyped-def]
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    prefix, broker = own_queues
    settings.CELERY_TASK_ALWAYS_EAGER = False  # as in production: workers are expected
    report = Client(HTTP_HOST="localhost").get("/healthz")
    assert report.status_code == 200  # no worker ran yet: degraded, not out of service
    body = report.json()
    assert body["status"] == "degraded" and body["checks"]["workers"].startswith("stale:")
    assert body["workers"] == {queue: None for queue in all_queues()}
    # Beat's heartbeat entries, run as beat would: each heartbeat task writes its queue's beat.
    call_command("setup_periodic_tasks", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.CELERY_TASK_ALWAYS_EAGER = True
    for entry in PeriodicTask.objects.filter(task="majismart.celery.worker_heartbeat"):
        app.tasks[entry.task].apply(args=json.loads(entry.args))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    body = Client(HTTP_HOST="localhost").get("/healthz").json()
    assert body["status"] == "ok" and body["checks"]["workers"] == "ok", body
    assert all(0 <= age < 60 for age in body["workers"].values())
    # The documents worker stopped beating a while ago.
    broker.set(heartbeat_key(f"{prefix}documents"), str(time.time() - HEARTBEAT_STALE_AFTER - 5))
    body = Client(HTTP_HOST="localhost").get("/healthz").json()
    assert body["status"] == "degraded" and body["checks"]["workers"].startswith(f"stale: {prefix}documents (")
    assert body["workers"][f"{prefix}documents"] > HEARTBEAT_STALE_AFTER


def test_healthz_reports_callbacks_left_waiting(alpha, settings) -> None:  # type: ignore[no-untyped-def]
    client = Client(HTTP_HOST="localhost")
    assert client.get("/healthz").json()["checks"]["callbacks"] == "ok: none waiting"
    with tenant_context(alpha):
        stored = inbox_store(kind="c2b_confirmation", body=b"{}", headers={}, source_ip=None)
    connection.set_schema_to_public()
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["checks"]["callbacks"].startswith("ok: 1 waiting, the oldest for ")
    with tenant_context(alpha):
        CallbackInbox.objects.filter(pk=stored.pk).update(
            received=timezone.now() - timedelta(seconds=settings.HEALTH_CALLBACK_BACKLOG_SECONDS + 60))
    connection.set_schema_to_public()
    report = client.get("/healthz")
    assert report.status_code == 200
    assert report.json()["status"] == "degraded"
    assert report.json()["checks"]["callbacks"].startswith("backlog: 1 waiting, the oldest for ")


def test_gunicorns_workers_are_summed_in_one_scrape(django_db_setup, django_db_blocker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """gunicorn as shipped (gunicorn.conf.py), three worker processes sharing
    PROMETHEUS_MULTIPROC_DIR: whichever worker answers the scrape counts every worker's requests."""
    import http.client

    from devkit.testing import PYTHON, child_env, free_port, process
    from tests.billing_helpers import own_provider

    def get(path: str, host: str, **headers: str) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # a connection each: any worker
        try:
            conn.request("GET", path, headers={"Host": host, **headers})
            answer = conn.getresponse()
            return answer.status, answer.read().decode()
        finally:
            conn.close()

    with own_provider(django_db_blocker, "prom") as provider:
        port = free_port()
        multiproc = tmp_path / "prometheus"
        multiproc.mkdir()
        (multiproc / "histogram_999999.db").write_bytes(b"left by the last run")  # emptied at start
        env = child_env(GUNICORN_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="3", GUNICORN_THREADS="1",
                        PROMETHEUS_MULTIPROC_DIR=str(multiproc), METRICS_TOKEN=TOKEN)
        env.pop("REDIS_URL", None)
        with process([PYTHON, "-m", "gunicorn", "majismart.wsgi:application"], env, port=port, log=tmp_path / "web.log"):
            for _ in range(12):
                assert get("/accounts/login/", provider.domain)[0] == 200
            assert get("/metrics", "127.0.0.1")[0] == 401
            for _ in range(3):  # each scrape may be answered by another worker: the same sum
                status, text = get("/metrics", "127.0.0.1", Authorization=f"Bearer {TOKEN}")
                assert status == 200
                samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                           for family in text_string_to_metric_families(text) for s in family.samples}
                assert value(samples, "majismart_http_request_duration_seconds_count", view="login", method="GET") == 12
                assert ("majismart_callback_inbox_backlog", ()) in samples
        assert not (multiproc / "histogram_999999.db").exists()
