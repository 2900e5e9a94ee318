"""Work goes to its group's queue, so a backlog of one kind never holds up another; beat's
every-minute jobs reach only the providers with something due."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import redis
from celery.result import AsyncResult
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from clients.models import Category, Client
from devkit.testing import celery_worker
from majismart.celery import PERIODIC_TASKS, app
from majismart.queues import GROUPS, TASK_GROUPS, all_queues, queue_name
from notifications.models import Message
from payments.models import CallbackInbox, Payment, PaymentRequest
from selfservice.models import InboundSms
from tenants.tasks import fan_out
from tests.billing_helpers import own_provider
from tests.payments.test_payments import confirmation

OUR_APPS = ("accounts.", "arrears.", "billing.", "clients.", "fieldwork.", "majismart.", "meters.", "notifications.",
            "payments.", "privacy.", "reports.", "selfservice.", "tenants.", "web.")


@pytest.fixture(autouse=True)
def _every_task() -> None:
    app.loader.import_default_modules()  # every app's tasks module, as a worker loads them


def test_every_task_of_ours_has_a_route_to_a_named_queue() -> None:
    ours = sorted(name for name in app.tasks if name.startswith(OUR_APPS))
    assert "payments.tasks.process_callback" in ours and len(ours) >= 30
    unrouted = [name for name in ours if name not in TASK_GROUPS]
    assert unrouted == [], f"tasks without a queue group in majismart/queues.py: {unrouted}"
    assert not set(TASK_GROUPS) - set(ours), "TASK_GROUPS names a task that does not exist"
    for name in ours:
        queue = app.amqp.router.route({}, name)["queue"].name
        assert queue in all_queues(), (name, queue)
    assert app.amqp.router.route({}, "payments.tasks.process_callback")["queue"].name == "payments"
    assert app.amqp.router.route({}, "billing.tasks.invoices_render_task")["queue"].name == "documents"
    # An explicit queue when sending still wins (a test's own queue, beat's heartbeat per queue).
    assert app.amqp.router.route({"queue": "elsewhere"}, "payments.tasks.process_callback")["queue"].name == "elsewhere"


def test_a_worker_without_q_consumes_every_group_and_the_default_queue() -> None:
    consumed = [queue.name for queue in settings.CELERY_TASK_QUEUES]
    assert consumed == [settings.CELERY_TASK_DEFAULT_QUEUE, *all_queues()]
    # Each bound by its own name: a message for one queue lands in that queue only.
    assert [queue.routing_key for queue in settings.CELERY_TASK_QUEUES] == consumed
    with pytest.raises(ValueError, match="Unknown queue group"):
        queue_name("pdfs")


def test_beat_sends_a_heartbeat_to_every_queue(db) -> None:  # type: ignore[no-untyped-def]
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    call_command("setup_periodic_tasks", stdout=open("/dev/null", "w"))  # noqa: SIM115
    beats = PeriodicTask.objects.filter(task="majismart.celery.worker_heartbeat")
    assert sorted(beats.values_list("queue", flat=True)) == sorted(all_queues())
    assert sorted(json.loads(b.args)[0] for b in beats) == sorted(GROUPS)
    assert PeriodicTask.objects.get(task="tenants.tasks.send_unsent").queue is None  # routed as usual
    assert {spec["task"] for spec in PERIODIC_TASKS.values()} <= set(TASK_GROUPS)


def _client() -> Client:
    return Client.objects.create(account_number="Q-1", full_name="Queue Client", category=Category.objects.get(code="domestic"))


def test_the_every_minute_jobs_go_only_to_providers_with_something_due(alpha, beta) -> None:  # type: ignore[no-untyped-def]
    connection.set_schema_to_public()
    for job in ("payments.tasks.query_stale_stk", "notifications.tasks.sweep_messages",
                "selfservice.tasks.sweep_inbound_sms"):
        assert fan_out.delay(job).get() == [], job  # nothing due anywhere: no message at all
    old = timezone.now() - timedelta(hours=1)
    with tenant_context(alpha):
        client = _client()
        request = PaymentRequest.objects.create(channel="stk", reference="ws_CO_DUE", client=client, amount=10,
                                                phone="+254700000001")
        PaymentRequest.objects.filter(pk=request.pk).update(created=old)
        message = Message.objects.create(channel="sms", event="invoice", purpose="billing", client_id=client.pk,
                                         recipient="+254700000001", text="Your bill", status="queued",
                                         dedup_key="due:1", next_attempt_at=timezone.now() + timedelta(hours=1))
    with tenant_context(beta):
        InboundSms.objects.create(at_id="due-1")
        InboundSms.objects.filter(at_id="due-1").update(received=old)
        PaymentRequest.objects.create(channel="stk", reference="new-not-sent-yet", client=_client(), amount=10,
                                      phone="+254700000002")
        PaymentRequest.objects.filter(reference="new-not-sent-yet").update(created=old)  # never pushed: not asked
    connection.set_schema_to_public()
    assert fan_out.delay("payments.tasks.query_stale_stk").get() == ["alpha"]
    assert fan_out.delay("selfservice.tasks.sweep_inbound_sms").get() == ["beta"]
    assert fan_out.delay("notifications.tasks.sweep_messages").get() == []  # its retry is an hour away
    with tenant_context(alpha):
        Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    connection.set_schema_to_public()
    assert fan_out.delay("notifications.tasks.sweep_messages").get() == ["alpha"]
    with tenant_context(alpha):  # the sweep ran (eagerly) and handed it over: nothing due any more
        assert Message.objects.get(pk=message.pk).next_attempt_at is None
    connection.set_schema_to_public()
    assert fan_out.delay("notifications.tasks.sweep_messages").get() == []
    # A job without a due condition still goes to every active provider.
    sent = fan_out.delay("accounts.tasks.clear_expired_sessions").get()
    assert "alpha" in sent and "beta" in sent


@pytest.mark.worker
def test_a_payments_worker_takes_callbacks_while_a_pdf_backlog_waits(django_db_setup, django_db_blocker,  # type: ignore[no-untyped-def]
                                                                     tmp_path) -> None:
    from billing.tasks import invoices_render_task
    from payments.inbox import inbox_store
    from payments.tasks import process_callback

    with own_provider(django_db_blocker, "qpay") as provider:
        with django_db_blocker.unblock(), tenant_context(provider):
            Client.objects.create(account_number="QP-1", full_name="Queue Payer", category=Category.objects.get(code="domestic"))
            stored = inbox_store(kind="c2b_confirmation", body=json.dumps(confirmation("QP-1", "250", "QPY0000001")).encode(),
                                 headers={}, source_ip="196.201.214.200")
        with celery_worker(tmp_path / "worker.log", groups=["payments"]) as (queue, conn, backend):
            with tenant_context(provider):
                # A pile of PDFs to render first, then the callback: neither sent with a queue.
                for _ in range(20):
                    invoices_render_task.apply_async(([1, 2, 3],), connection=conn)
                sent = process_callback.apply_async((stored.pk,), connection=conn)
            connection.set_schema_to_public()
            assert AsyncResult(sent.id, backend=backend).get(timeout=60) in ("processed", "taken")
            broker = redis.Redis.from_url(conn.as_uri(include_password=True))  # type: ignore[attr-defined]
            assert broker.llen(f"{queue}-documents") == 20  # untouched: no worker of that group runs
        with django_db_blocker.unblock(), tenant_context(provider):
            assert CallbackInbox.objects.get(pk=stored.pk).status == "processed"
            assert Payment.objects.filter(receipt="QPY0000001").exists()


def test_procfiles_and_compose_run_workers_for_every_queue() -> None:
    import shlex
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    everything = {"celery", *all_queues(prefix="")}

    def consumed(command: list[str]) -> set[str]:
        assert command[:4] == ["celery", "-A", "majismart", "worker"], command
        return set(command[command.index("-Q") + 1].split(",")) if "-Q" in command else everything

    services = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]
    workers = {name: consumed(spec["command"]) for name, spec in services.items() if name.startswith("worker")}
    assert sorted(workers) == sorted(f"worker-{group}" for group in GROUPS)
    assert set().union(*workers.values()) == everything
    assert [name for name, spec in services.items() if "beat" in spec.get("command", [])] == ["beat"]
    for procfile in ("Procfile", "Procfile.dev"):
        lines = dict(line.split(":", 1) for line in (root / procfile).read_text().splitlines() if line.strip())
        queues = [consumed(shlex.split(command)) for name, command in lines.items() if name.startswith("worker")]
        assert set().union(*queues) == everything, procfile
    assert "-Q" not in (root / "Procfile.dev").read_text()  # `make run`: one worker takes every queue


def _niceness_of_workers_consuming(queue: str) -> list[int]:
    """The niceness (from /proc) of every process whose command line names `queue`."""
    from pathlib import Path

    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and queue.encode() in (entry / "cmdline").read_bytes():
                stat = (entry / "stat").read_text()
                found.append(int(stat[stat.rindex(")") + 2:].split()[16]))  # field 19: nice
        except OSError:
            continue
    return found


@pytest.mark.worker
def test_a_worker_given_a_niceness_runs_at_it_and_compose_lowers_documents_and_reports(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """WORKER_NICENESS: the worker (and so its pool) yields the CPU; docker-compose gives it to
    the documents and reports workers, never to payments."""
    import time
    from pathlib import Path

    import yaml

    with celery_worker(tmp_path / "worker.log", groups=["documents"], WORKER_NICENESS="7") as (queue, _conn, _backend):
        deadline = time.monotonic() + 60
        while _niceness_of_workers_consuming(f"{queue}-documents") != [7]:  # from 0 once its start-up is done
            assert time.monotonic() < deadline, (_niceness_of_workers_consuming(f"{queue}-documents"),
                                                 (tmp_path / "worker.log").read_text())
            time.sleep(0.2)
    services = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())["services"]
    niceness = {name: int(spec["environment"].get("WORKER_NICENESS", 0)) for name, spec in services.items()
                if name.startswith("worker")}
    assert niceness == {"worker-payments": 0, "worker-messages": 0, "worker-documents": 10, "worker-reports": 10,
                        "worker-maintenance": 0}
