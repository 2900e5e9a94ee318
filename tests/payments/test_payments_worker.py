"""Callbacks cross a real Redis broker into a real `celery worker`: one stored while no worker
ran (the broker or worker was down) is swept up later with the rest, tasks queued for rows
already processed change nothing, and the same receipt twice still makes one payment."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from celery.result import AsyncResult
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from billing.selectors import client_balance
from clients.models import Category, Client
from devkit.testing import celery_worker
from payments.inbox import inbox_store
from payments.models import CallbackInbox, Payment
from payments.tasks import drain_confirmations, process_callback, sweep_inbox
from tests.billing_helpers import D, own_provider
from tests.payments.test_payments import confirmation


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
        with celery_worker(tmp_path / "worker.log") as (queue, conn, backend):
            with tenant_context(provider):
                swept = sweep_inbox.apply_async(connection=conn, queue=queue)
                first = process_callback.apply_async((queued.pk,), connection=conn, queue=queue)
                second = process_callback.apply_async((again.pk,), connection=conn, queue=queue)
            connection.set_schema_to_public()
            # One worker process takes its queue in order: the sweeper finds a confirmation left
            # behind (two minutes old) and drains every stored confirmation as a batch; the
            # queued tasks then find their rows taken. Each row is processed once.
            assert AsyncResult(swept.id, backend=backend).get(timeout=60) == 3
            assert [AsyncResult(r.id, backend=backend).get(timeout=60) for r in (first, second)] == ["taken", "taken"]
            # A burst arriving normally: one drain task takes it as a set.
            with django_db_blocker.unblock(), tenant_context(provider):
                for i in range(3, 8):
                    inbox_store(kind="c2b_confirmation", headers={}, source_ip="196.201.214.200",
                                body=json.dumps(confirmation("WK-1", "100", f"WKR000000{i}")).encode())
                drain = drain_confirmations.apply_async(connection=conn, queue=queue)
            connection.set_schema_to_public()
            assert AsyncResult(drain.id, backend=backend).get(timeout=60) == 5
        with django_db_blocker.unblock(), tenant_context(provider):
            deadline = time.monotonic() + 10
            while CallbackInbox.objects.filter(status="received").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            statuses = sorted(CallbackInbox.objects.values_list("status", flat=True))
            assert statuses == ["duplicate"] + ["processed"] * 7
            assert sorted(Payment.objects.values_list("receipt", "amount"))[:2] == [
                ("WKR0000001", D("300.00")), ("WKR0000002", D("200.00"))]
            assert Payment.objects.count() == 7
            assert client_balance(client.pk) == D("-1000.00")  # no invoices yet: a credit
