"""Reconnection ordered by the payment that completes the requirement, from a real M-Pesa C2B
confirmation through a real Celery worker over Redis: the drain books the payment, and the
follow-up it sends (arrears' check of disconnected clients who paid) runs in the worker too."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from celery.result import AsyncResult
from django.db import connection
from django.test import TestCase
from django.utils import timezone
from django_tenants.utils import tenant_context

from arrears import services
from arrears.models import Disconnection
from billing.models import Fee
from billing.selectors import client_balance
from clients.models import Client
from devkit.testing import celery_worker
from fieldwork.models import WorkOrder
from fieldwork.services import work_order_complete
from payments.inbox import inbox_store
from payments.tasks import drain_confirmations
from tests.billing_helpers import D, billed_twice, domestic_tariff, own_provider
from tests.payments.test_payments import confirmation


def test_the_confirmation_that_completes_the_requirement_orders_the_reconnection_in_a_worker(  # type: ignore[no-untyped-def]
        django_db_setup, django_db_blocker, tmp_path) -> None:
    with own_provider(django_db_blocker, "rcw") as provider:
        with django_db_blocker.unblock(), tenant_context(provider):
            domestic_tariff()
            Fee.objects.create(code="reconnection", name="Reconnection fee", amount=D("1000.00"), kind="fee")
            client = billed_twice("Worker Reconnect")  # September 500.00 + October 940.00, unpaid
            item = services.disconnection_start(client=client, actor="test")
            item.notice_date = timezone.localdate()  # the notice's date has come
            item.save(update_fields=["notice_date"])
            assert services.disconnections_due() == 1
            order = WorkOrder.objects.get(source=f"disconnection:{item.pk}")
            with TestCase.captureOnCommitCallbacks(execute=True):
                work_order_complete(order=order, actor="test", reading=D("40"),
                                    done_at=timezone.now() - timedelta(minutes=1))
            item.refresh_from_db()
            assert (item.status, item.fee) == ("disconnected", D("1000.00"))
            assert client_balance(client.pk) == D("2440.00")  # 1,440.00 arrears + 1,000.00 fee
            short = inbox_store(kind="c2b_confirmation", headers={}, source_ip="196.201.214.200",
                                body=json.dumps(confirmation(client.account_number, "1440.00", "RCW0000001")).encode())
        with celery_worker(tmp_path / "worker.log") as (queue, conn, backend):
            with tenant_context(provider):
                first = drain_confirmations.apply_async(connection=conn, queue=queue)
            connection.set_schema_to_public()
            assert AsyncResult(first.id, backend=backend).get(timeout=60) == 1
            with django_db_blocker.unblock(), tenant_context(provider):
                time.sleep(2)  # the worker's follow-up had its chance: the fee is still owed
                assert not WorkOrder.objects.filter(kind="reconnect").exists()
                inbox_store(kind="c2b_confirmation", headers={}, source_ip="196.201.214.200",
                            body=json.dumps(confirmation(client.account_number, "1000.00", "RCW0000002")).encode())
                second = drain_confirmations.apply_async(connection=conn, queue=queue)
            connection.set_schema_to_public()
            assert AsyncResult(second.id, backend=backend).get(timeout=60) == 1
            with django_db_blocker.unblock(), tenant_context(provider):
                deadline = time.monotonic() + 30
                while not WorkOrder.objects.filter(kind="reconnect").exists() and time.monotonic() < deadline:
                    time.sleep(0.2)
                reconnect = WorkOrder.objects.get(kind="reconnect")
                item.refresh_from_db()
                assert (item.status, item.reconnect_order_id) == ("reconnect_ordered", reconnect.pk)
                assert reconnect.source == f"reconnection:{item.pk}"
                assert client_balance(client.pk) == D("0.00")
                assert Client.objects.get(pk=client.pk).status == "disconnected"  # until the officer reconnects
                assert short.pk and Disconnection.objects.count() == 1
