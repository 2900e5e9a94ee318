"""Callbacks cross a real Redis broker into a real `celery worker`: one stored while no worker
ran (the broker or worker was down) is swept up later, one queued normally is processed, and
the same receipt queued twice still makes one payment."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

from celery.app import backends
from celery.result import AsyncResult
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from billing.selectors import client_balance
from clients.models import Category, Client
from majismart.celery import app
from majismart.testing import PYTHON, child_env, process, redis_url
from payments.models import CallbackInbox, Payment
from payments.services import inbox_store
from payments.tasks import process_callback, sweep_inbox
from tests.billing_helpers import D, own_provider
from tests.test_payments import confirmation


def test_a_real_worker_processes_stored_callbacks(django_db_setup, django_db_blocker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with own_provider(django_db_blocker, "wrk") as provider:
        with django_db_blocker.unblock(), tenant_context(provider):
            client = Client.objects.create(account_number="WK-1", full_name="Worker Client",
                                           category=Category.objects.get(code="domestic"))
            lost = inbox_store(kind="c2b_confirmation", body=json.dumps(confirmation("wk-1", "300", "WKR0000001")).encode(),
                               headers={}, source_ip="196.201.214.200")
            CallbackInbox.objects.filter(pk=lost.pk).update(received=timezone.now() - timedelta(minutes=5))
            queued = inbox_store(kind="c2b_confirmation", body=json.dumps(confirmation("WK-1", "200", "WKR0000002")).encode(),
                                 headers={}, source_ip="196.201.214.200")
            again = inbox_store(kind="c2b_confirmation", body=json.dumps(confirmation("WK-1", "200", "WKR0000002")).encode(),
                                headers={}, source_ip="196.201.214.200")
            assert not Payment.objects.exists()  # nothing has processed them yet
        queue = f"test-{uuid.uuid4().hex[:8]}"
        with redis_url() as url:
            env = child_env(REDIS_URL=url, CELERY_TASK_ALWAYS_EAGER="false")
            args = [PYTHON, "-m", "celery", "-A", "majismart", "worker", "--pool=solo", "-Q", queue,
                    "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=WARNING"]
            backend_cls, backend_url = backends.by_url(url, app.loader)
            backend = backend_cls(app=app, url=backend_url)
            app.conf.task_always_eager = False
            try:
                with process(args, env, log=tmp_path / "worker.log"), app.connection_for_write(url) as conn:
                    with tenant_context(provider):
                        swept = sweep_inbox.apply_async(connection=conn, queue=queue)
                        first = process_callback.apply_async((queued.pk,), connection=conn, queue=queue)
                        second = process_callback.apply_async((again.pk,), connection=conn, queue=queue)
                    connection.set_schema_to_public()
                    # The sweeper takes every row left unprocessed: the lost one, and perhaps the
                    # queued ones if it gets there first; each row is processed once either way.
                    assert AsyncResult(swept.id, backend=backend).get(timeout=60) >= 1
                    results = {AsyncResult(r.id, backend=backend).get(timeout=60) for r in (first, second)}
                    assert results <= {"processed", "duplicate", "taken"}
            finally:
                app.conf.task_always_eager = True
        with django_db_blocker.unblock(), tenant_context(provider):
            deadline = time.monotonic() + 10
            while CallbackInbox.objects.filter(status="received").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            statuses = sorted(CallbackInbox.objects.values_list("status", flat=True))
            assert statuses == ["duplicate", "processed", "processed"]
            assert sorted(Payment.objects.values_list("receipt", "amount")) == [
                ("WKR0000001", D("300.00")), ("WKR0000002", D("200.00"))]
            assert client_balance(client.pk) == D("-500.00")  # no invoices yet: a credit
