"""More than one machine: two web processes and two Celery workers against one database and one
Redis, as two hosts of a platform run them. M-Pesa confirmations arrive at both web processes
(Safaricom retries: each one twice, once at each), a billing run is started and finalised through
both at the same moment, and its bill PDFs are rendered by whichever worker takes them. Nothing is
lost (every payment, every invoice, every PDF) and nothing is doubled (one payment per receipt,
one ledger entry each, one run, one invoice per client, one file per bill)."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django_tenants.utils import tenant_context

from devkit.testing import PYTHON, child_env, free_port, process, redis_url
from tests.billing_helpers import domestic_tariff, metered, own_provider, read
from tests.payments.test_payments import confirmation

pytestmark = pytest.mark.worker

CLIENTS = 24
PAYMENTS = 60  # over the clients, 100.00 each
PERIOD = "2026-11"


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.5)
        connection.close()  # a fresh connection: never a stale snapshot of what the workers wrote


def _call(port: int, host: str, method: str, path: str, body: object, key: str = "") -> tuple[int, dict]:
    headers = {"Host": host, "Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),  # noqa: S310
                                     headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return response.status, json.load(response)


def test_two_web_processes_and_two_workers_lose_nothing_and_double_nothing(django_db_setup, django_db_blocker,  # type: ignore[no-untyped-def]
                                                                           tmp_path: Path) -> None:
    from accounts.services import api_key_create
    from billing.models import BillingRun, Invoice, LedgerEntry
    from payments.models import CallbackInbox, Payment

    with own_provider(django_db_blocker, "twoproc") as provider, django_db_blocker.unblock(), redis_url() as redis:
        with tenant_context(provider):
            domestic_tariff()
            accounts = []
            for i in range(CLIENTS):
                client, meter = metered(f"Two Hosts {i}")
                read(meter, "0", "2026-10-31")
                read(meter, str(5 + i), "2026-11-30")
                accounts.append(client.account_number)
            key = api_key_create(name="two hosts")[1]
        connection.set_schema_to_public()
        host, token = provider.domain, provider.callback_token
        queue = f"test-{uuid.uuid4().hex[:8]}"
        # This test's own queues: the default one and every group's under its prefix (majismart/queues.py).
        env = child_env(REDIS_URL=redis, CELERY_TASK_ALWAYS_EAGER="false", CELERY_TASK_DEFAULT_QUEUE=queue,
                        CELERY_QUEUE_PREFIX=f"{queue}-", WEB_CONCURRENCY="1", GUNICORN_THREADS="4")
        webs = [free_port(), free_port()]
        with ExitStack() as stack:
            for n, port in enumerate(webs):
                stack.enter_context(process([PYTHON, "-m", "gunicorn", "majismart.wsgi:application"],
                                            {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}, port=port,
                                            log=tmp_path / f"web{n}.log"))
            for n in range(2):
                # Without -Q: every queue (payments, messages, documents, reports, maintenance), as one
                # host's all-round worker takes them.
                stack.enter_context(process([PYTHON, "-m", "celery", "-A", "majismart", "worker", "--pool=solo",
                                             "-n", f"host{n}@%h", "--without-gossip", "--without-mingle",
                                             "--loglevel=WARNING"], env, log=tmp_path / f"worker{n}.log"))
            confirm = f"/payments/mpesa/c2b/confirmation/{token}/"
            with ThreadPoolExecutor(max_workers=8) as pool:
                callbacks = [pool.submit(_call, port, host, "POST", confirm,
                                         confirmation(accounts[i % CLIENTS], "100.00", f"TWO{i:06d}"))
                             for i in range(PAYMENTS) for port in webs]
                started = list(pool.map(lambda port: _call(port, host, "POST", "/api/v1/billing-runs/",
                                                           {"period": PERIOD}, key), webs))
                run_ids = {body["id"] for _, body in started}
                assert len(run_ids) == 1, started  # the same period twice: the same run
                run_id = run_ids.pop()
                finalized = list(pool.map(lambda port: _call(port, host, "POST", f"/api/v1/billing-runs/{run_id}/finalize/",
                                                             {}, key), webs))
                answers = [f.result() for f in callbacks]
            assert sorted(status for status, _ in started) == [200, 201], started  # made once, found once
            assert {body["status"] for _, body in finalized} == {"finalized"}, finalized
            assert all(status == 200 and body.get("ResultCode") in (0, "0") for status, body in answers), answers

            def settled() -> bool:
                with tenant_context(provider):
                    waiting = CallbackInbox.objects.filter(status=CallbackInbox.Status.RECEIVED).exists()
                    return not waiting and Payment.objects.count() >= PAYMENTS

            def rendered() -> bool:
                with tenant_context(provider):
                    numbers = list(Invoice.objects.filter(period=PERIOD).values_list("number", flat=True))
                    return bool(numbers) and all(default_storage.exists(f"invoices/{PERIOD}/{n}.pdf") for n in numbers)

            _wait(settled, 120, "every confirmation processed")
            _wait(rendered, 180, "every bill's PDF stored")
        with tenant_context(provider):
            payments = list(Payment.objects.values_list("receipt", "amount"))
            assert len(payments) == PAYMENTS and len({r for r, _ in payments}) == PAYMENTS
            assert sum(a for _, a in payments) == Decimal("100.00") * PAYMENTS
            assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT).count() == PAYMENTS
            assert not CallbackInbox.objects.filter(status=CallbackInbox.Status.INVALID).exists()
            assert BillingRun.objects.filter(period=PERIOD).count() == 1
            invoices = list(Invoice.objects.filter(period=PERIOD).values_list("client__account_number", "number"))
            assert sorted(a for a, _ in invoices) == sorted(accounts)
            assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.INVOICE, invoice__period=PERIOD).count() == CLIENTS
            _dirs, files = default_storage.listdir(f"invoices/{PERIOD}")
            assert sorted(files) == sorted(f"{n}.pdf" for _, n in invoices)  # one file per bill, none twice
        connection.set_schema_to_public()
