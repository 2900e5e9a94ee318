"""Faults with real processes: a Celery worker and beat started as the Procfile starts them
(`celery -A majismart worker|beat --loglevel=INFO`, DEBUG off), gunicorn as in production, and a
Redis of the test's own that is stopped, started again, or cut off behind a proxy that swallows
packets. Nothing may depend on one task message: whatever was stored is processed within a
minute of the broker and a worker being back, and without Redis the site answers fast."""

from __future__ import annotations

import io
import json
import re
import secrets
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from celery.exceptions import AlwaysEagerIgnored
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from clients.models import Category, Client
from devkit.embedded import embedded_redis_url
from devkit.testing import (
    PYTHON,
    TcpProxy,
    child_env,
    free_port,
    kill_hard,
    process,
    wait_for_port,
)
from payments.inbox import confirmation_store, inbox_store
from payments.models import CallbackInbox, DrainFlag, Payment
from tests.billing_helpers import own_provider
from tests.payments.test_payments import confirmation

pytestmark = pytest.mark.worker

WORKER = [PYTHON, "-m", "celery", "-A", "majismart", "worker", "--loglevel=INFO"]  # Procfile's worker
SAFARICOM = "196.201.214.200"
# Each a real entry of majismart.celery.PERIODIC_TASKS, as `setup_periodic_tasks` writes it.
WATCH = "Restart stalled drains of M-Pesa confirmations, sweep callbacks left waiting (platform)"
SEND_UNSENT = "Send task messages kept while the broker was unreachable (platform)"
SESSIONS = "Clear expired sessions (every provider)"


def _wait(predicate: Callable[[], bool], timeout: float, step: float = 0.25) -> float:
    """Seconds until `predicate()` held; fails the test after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            pytest.fail(f"not within {timeout:.0f} s")
        time.sleep(step)
        connection.close()  # a fresh connection: never a stale snapshot of what the workers wrote
    return time.monotonic() - started


@contextmanager
def _redis() -> Iterator[tuple[int, Callable[[], None], Callable[[], None]]]:
    """A throw-away Redis on a port of its own: (port, stop, start)."""
    port = free_port()
    state: dict = {}

    def start() -> None:
        state["proc"] = embedded_redis_url(port)
        wait_for_port(port, proc=state["proc"])

    def stop() -> None:
        state["proc"].terminate()
        state["proc"].wait(10)

    start()
    try:
        yield port, stop, start
    finally:
        if state["proc"].poll() is None:
            stop()


def _env(redis_port: int, queue: str, **extra: str) -> dict[str, str]:
    """Production-like: DEBUG off, a real secret key, not eager; the queues are the test's own
    (its default queue, and every group's queue under its prefix)."""
    return child_env(**{"DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50), "EMAIL_URL": "consolemail://",
                        "CELERY_TASK_ALWAYS_EAGER": "false", "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                        "CELERY_TASK_DEFAULT_QUEUE": queue, "CELERY_QUEUE_PREFIX": f"{queue}-", **extra})


@contextmanager
def _beat_schedule(*names: str, every: dict[str, int] | None = None) -> Iterator[None]:
    """The real schedule (setup_periodic_tasks), with only `names` enabled; `every` makes an
    entry fire every few seconds instead of waiting for its crontab minute."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

    call_command("setup_periodic_tasks", stdout=io.StringIO())
    PeriodicTask.objects.exclude(name__in=names).update(enabled=False)
    for name, seconds in (every or {}).items():
        interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.filter(name=name).update(interval=interval, crontab=None)
    PeriodicTasks.update_changed()
    try:
        yield
    finally:
        connection.set_schema_to_public()
        PeriodicTask.objects.exclude(name__startswith="celery.").delete()


def _beat(env: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    return process([PYTHON, "-m", "celery", "-A", "majismart", "beat", "--loglevel=INFO",
                    "--schedule", str(tmp_path / "beat-schedule")], env, log=tmp_path / "beat.log")


def _client(provider) -> Client:  # type: ignore[no-untyped-def]
    with tenant_context(provider):
        return Client.objects.create(account_number="RS-1", full_name="Resilient Client",
                                     category=Category.objects.get(code="domestic"))


def _store_confirmations(provider, count: int, prefix: str) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(provider):
        for i in range(count):
            confirmation_store(body=json.dumps(confirmation("RS-1", "10", f"{prefix}{i:06d}")).encode(),
                               headers={}, source_ip=SAFARICOM)


def _waiting(provider) -> int:  # type: ignore[no-untyped-def]
    with tenant_context(provider):
        return CallbackInbox.objects.filter(status=CallbackInbox.Status.RECEIVED).count()


def _payments(provider) -> int:  # type: ignore[no-untyped-def]
    with tenant_context(provider):
        return Payment.objects.count()


def test_beat_entries_run_in_a_worker_started_as_in_production(django_db_setup, django_db_blocker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tenants.models import UnsentTask
    from tenants.outbox import keep

    queue = f"test-{uuid.uuid4().hex[:8]}"
    with own_provider(django_db_blocker, "beat") as provider, django_db_blocker.unblock(), _redis() as (port, _, _), \
            _beat_schedule(SESSIONS, WATCH, SEND_UNSENT, every={SESSIONS: 2}):
        _client(provider)
        with tenant_context(provider):
            Session.objects.create(session_key="expired-beat", session_data="x",
                                   expire_date=timezone.now() - timedelta(days=1))
            # A drain whose message was lost a minute ago: the flag up, its beat old, money waiting.
            _store_confirmations(provider, 3, "BEAT")
            DrainFlag.objects.update(pending=True, beat=timezone.now() - timedelta(minutes=1))
            # A callback whose task could not be sent (the broker was down): its message kept.
            event = inbox_store(kind=CallbackInbox.Kind.PAYSTACK, body=json.dumps({"event": "charge.failed", "data": {}}).encode(),
                                headers={}, source_ip=None)
        keep(schema=provider.schema_name, name="payments.tasks.process_callback", task_id=str(uuid.uuid4()),
             args=[event.pk], kwargs={}, options={}, error=None)
        env = _env(port, queue)
        with process(WORKER, env, log=tmp_path / "worker.log"), _beat(env, tmp_path):
            # The fanned-out entry reached the provider's schema (it fires every 2 s here).
            _wait(lambda: not _session_left(provider, "expired-beat"), 60)
            # The watchdog saw the stalled drain and queued another: the money is in.
            _wait(lambda: _payments(provider) == 3 and _waiting(provider) == 0, 60)
            assert not UnsentTask.objects.filter(schema_name=provider.schema_name).exists()
        with tenant_context(provider):
            assert CallbackInbox.objects.get(pk=event.pk).note == "Ignored event charge.failed"
            assert DrainFlag.objects.get().pending is False
    log = (tmp_path / "worker.log").read_text()
    assert "unregistered" not in log.lower(), log[-3000:]
    assert "tenants.tasks.fan_out" in log and "payments.tasks.watch_callbacks" in log


def _session_left(provider, key: str) -> bool:  # type: ignore[no-untyped-def]
    with tenant_context(provider):
        return Session.objects.filter(session_key=key).exists()


def test_a_worker_killed_mid_drain_is_replaced_within_a_minute(django_db_setup, django_db_blocker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from celery import current_app

    queue = f"test-{uuid.uuid4().hex[:8]}"
    total = 6000
    with own_provider(django_db_blocker, "kill") as provider, django_db_blocker.unblock(), _redis() as (port, _, _), \
            _beat_schedule(WATCH, SEND_UNSENT):
        _client(provider)
        _store_confirmations(provider, total, "KILL")
        env = _env(port, queue)
        with process(WORKER, env, log=tmp_path / "first-worker.log") as first:
            # The drain the first confirmation queued, as the endpoint sends it.
            with tenant_context(provider), current_app.connection_for_write(env["REDIS_URL"]) as conn, \
                    warnings.catch_warnings():
                warnings.simplefilter("ignore", AlwaysEagerIgnored)  # the suite runs eagerly; this goes to Redis
                current_app.send_task("payments.tasks.drain_confirmations", connection=conn, queue=queue)
            _wait(lambda: _payments(provider) >= 500, 60, step=0.05)
            kill_hard(first)
        done_when_killed = _payments(provider)
        assert done_when_killed < total, "the drain finished before the worker was killed"
        with process(WORKER, env, log=tmp_path / "second-worker.log"), _beat(env, tmp_path):
            # Its message is still unacknowledged in Redis (for the visibility timeout): the
            # watchdog sees the drain's beat stop and queues another.
            recovery = _wait(lambda: _waiting(provider) == 0, 60)
        with tenant_context(provider):
            assert Payment.objects.count() == total  # each receipt once
            assert set(CallbackInbox.objects.values_list("status", flat=True)) == {"processed"}
    print(f"\nworker killed after {done_when_killed} of {total}; rest processed {recovery:.1f} s after a worker was back")


def _timed(call: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_without_redis_the_site_answers_and_catches_up_when_it_is_back(django_db_setup, django_db_blocker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Redis stopped, then started again (empty: every queued message lost); then cut off behind a
    proxy that swallows packets. Meanwhile pages, logins, the API and payment callbacks answer
    fast; afterwards everything stored is processed within a minute."""
    import http.client
    from urllib.parse import urlencode

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from accounts.services import api_key_create
    from payments.models import PaymentRequest

    queue = f"test-{uuid.uuid4().hex[:8]}"
    with own_provider(django_db_blocker, "redis") as provider, django_db_blocker.unblock(), \
            _redis() as (redis_port, stop_redis, start_redis), _beat_schedule(WATCH, SEND_UNSENT):
        client = _client(provider)
        with tenant_context(provider):
            key = api_key_create(name="resilience")[1]
            # The suite hashes with MD5 (fast); the server runs production's hashers.
            assert get_user_model().objects.filter(email=f"owner@{provider.slug}.test").update(
                password=PBKDF2PasswordHasher().encode("correct-horse-42", PBKDF2PasswordHasher().salt(), iterations=1000))
        proxy = TcpProxy(redis_port)
        web_port = free_port()
        env = _env(proxy.port, queue, DEBUG="true", GUNICORN_BIND=f"127.0.0.1:{web_port}", WEB_CONCURRENCY="2",
                   TRUSTED_PROXY_COUNT="1")
        host = provider.domain
        token = provider.callback_token
        sent = iter(range(1_000_000))

        def exchange(method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                     on: str = host) -> tuple[int, str, str]:
            """(status, the page, the Set-Cookie header) of one request over its own connection."""
            conn = http.client.HTTPConnection("127.0.0.1", web_port, timeout=30)
            conn.request(method, path, body=body, headers={"Host": on, "X-Forwarded-For": SAFARICOM, **(headers or {})})
            answer = conn.getresponse()
            page = answer.read().decode(errors="replace")
            conn.close()
            return answer.status, page, answer.getheader("Set-Cookie") or ""

        def request(method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                    on: str = host) -> int:
            return exchange(method, path, body, headers, on)[0]

        def pay() -> int:
            body = json.dumps(confirmation("RS-1", "10", f"REDIS{next(sent):05d}")).encode()
            return request("POST", f"/payments/c2b/confirmation/{token}/", body, {"Content-Type": "application/json"})

        def stk() -> int:
            """A push the client cancelled: the request we stored, then Daraja's result for it."""
            checkout = f"ws_CO_{uuid.uuid4().hex}"
            with tenant_context(provider):
                PaymentRequest.objects.create(channel=PaymentRequest.Channel.STK, reference=checkout, client=client,
                                              amount="10.00")
            body = json.dumps({"Body": {"stkCallback": {"MerchantRequestID": "m", "CheckoutRequestID": checkout,
                                                        "ResultCode": 1032, "ResultDesc": "Request cancelled by user"}}})
            return request("POST", f"/payments/stk/callback/{token}/", body.encode(), {"Content-Type": "application/json"})

        def login(email: str, password: str) -> int:
            """As a browser does: the form (and its CSRF cookie) first, then the post."""
            _, page, cookie = exchange("GET", "/accounts/login/")
            csrf = re.search(r"csrftoken=([^;]+)", cookie).group(1)
            form_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
            form = urlencode({"username": email, "password": password, "csrfmiddlewaretoken": form_token})
            status, page, _ = exchange("POST", "/accounts/login/", form.encode(),
                           {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={csrf}",
                            "Referer": f"http://{host}/accounts/login/"})
            return status

        checks = {
            "login page": lambda: request("GET", "/accounts/login/"),
            "login": lambda: login(f"owner@{provider.slug}.test", "correct-horse-42"),
            "wrong password": lambda: login(f"nobody-{uuid.uuid4().hex[:6]}@{provider.slug}.test", "wrong-password"),
            "sign-up page": lambda: request("GET", "/signup/", on=settings.BASE_DOMAIN),
            "API with a key": lambda: request("GET", "/api/v1/clients/", headers={"Authorization": f"Bearer {key}"}),
            "C2B confirmation": pay,
            "STK callback": stk,
        }
        expected = {"login page": 200, "login": 302, "wrong password": 200, "sign-up page": 200,
                    "API with a key": 200, "C2B confirmation": 200, "STK callback": 200}
        recoveries = {}
        with process([PYTHON, "-m", "gunicorn", "majismart.wsgi:application"], env, port=web_port, log=tmp_path / "web.log"), \
                process(WORKER, env, log=tmp_path / "worker.log"), _beat(env, tmp_path):
            assert {name: check() for name, check in checks.items()} == expected
            _wait(lambda: _waiting(provider) == 0, 30)
            for fault in ("stopped", "cut"):
                if fault == "stopped":
                    stop_redis()
                else:
                    proxy.cut()
                slowest = 0.0
                for _ in range(3):  # the first call of each process meets the fault; later ones skip it
                    for name, check in checks.items():
                        status, took = _timed(check)
                        assert status == expected[name], (fault, name, status)
                        slowest = max(slowest, took)
                for _ in range(20):
                    assert pay() == 200
                assert slowest < 12, (fault, slowest)
                waiting = _waiting(provider)
                assert waiting >= 26  # stored, none processed while Redis is away
                time.sleep(5)
                if fault == "stopped":
                    start_redis()  # empty: the messages queued before are gone too
                else:
                    proxy.restore()
                recoveries[fault] = (_wait(lambda: _waiting(provider) == 0, 60), slowest, waiting)
        proxy.close()
        with tenant_context(provider):
            assert Payment.objects.count() == next(sent)  # each confirmation made its payment, once
            assert not CallbackInbox.objects.filter(status=CallbackInbox.Status.RECEIVED).exists()
    for fault, (recovery, slowest, waiting) in recoveries.items():
        print(f"\nRedis {fault}: slowest answer {slowest:.2f} s; {waiting} callbacks stored meanwhile, "
              f"processed {recovery:.1f} s after it was back")
