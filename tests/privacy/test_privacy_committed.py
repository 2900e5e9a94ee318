"""Privacy flows that cross process boundaries, on committed data in a provider of its own: an
export built by a real Celery worker over Redis, and an erasure read back through pg_dump of the
provider's schema (what a stolen backup would show)."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile

import pytest
from celery.result import AsyncResult
from django.core.files.storage import default_storage
from django.db import connection
from django_tenants.utils import tenant_context

from accounts.models import User
from billing.selectors import client_balance
from billing.services import opening_balances_post
from clients.models import Category, Client
from devkit.testing import celery_worker, pg_dump
from devkit.testing import test_database_url as database_url
from notifications.services import Outgoing, notify
from payments.inbox import inbox_store
from payments.models import CallbackInbox, Payment
from payments.services import payment_record
from privacy.erasure import client_pseudonymise
from privacy.models import DataExport
from privacy.tasks import export_build_task
from tests.billing_helpers import D, on, own_provider
from tests.conftest import PASSWORD
from tests.notifications_helpers import sms_ready

NAME, PHONE, EMAIL, NATIONAL_ID, PLOT = "Zawadi Kiprono", "+254733444555", "zawadi.k@example.com", "31415926", "Plot 88 Ngong"
LOGIN = "zawadi.portal@example.com"


def _subject() -> Client:
    sms_ready()
    user = User.objects.create_user(LOGIN, PASSWORD, full_name=NAME, role="client")
    client = Client.objects.create(account_number="Z001", full_name=NAME, phone=PHONE, email=EMAIL,
                                   national_id=NATIONAL_ID, location=PLOT, user=user,
                                   category=Category.objects.get(code="domestic"), opening_balance=D("800.00"))
    opening_balances_post([client], actor="test")
    body = json.dumps({"TransID": "SKZ0000001", "TransAmount": "250.00", "BillRefNumber": "Z001",
                       "MSISDN": "254733444555", "FirstName": "ZAWADI", "LastName": "KIPRONO"}).encode()
    inbox = inbox_store(kind=CallbackInbox.Kind.C2B_CONFIRMATION, body=body, headers={}, source_ip="196.201.214.200")
    payment_record(method="mpesa", receipt="SKZ0000001", amount=D("250.00"), paid_at=on("2026-11-10"), client=client,
                   account_reference="Z001", payer="254733444555", payer_name="ZAWADI KIPRONO", inbox=inbox)
    notify(event="account_message", channel="sms", outgoing=[
        Outgoing("z", PHONE, {"name": NAME, "account": "Z001", "text": "Meter check on Friday."}, client.pk)])
    return client


def _dump(schema: str) -> str:
    return subprocess.run([pg_dump(), "--data-only", f"--schema={schema}", database_url()], check=True,
                          capture_output=True, text=True).stdout


@pytest.mark.worker
def test_a_real_worker_builds_the_export(django_db_setup, django_db_blocker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with own_provider(django_db_blocker, "exw") as provider:
        with django_db_blocker.unblock(), tenant_context(provider):
            client = _subject()
            export = DataExport.objects.create(client=client, token="worker-built-export", requested_by="test")
        with celery_worker(tmp_path / "worker.log") as (queue, conn, backend):
            with tenant_context(provider):
                sent = export_build_task.apply_async((export.pk,), connection=conn, queue=queue)
            connection.set_schema_to_public()
            assert AsyncResult(sent.id, backend=backend).get(timeout=90) == "ready"
        with django_db_blocker.unblock(), tenant_context(provider):
            export.refresh_from_db()
            assert export.status == "ready" and export.size > 0
            with default_storage.open(export.path, "rb") as handle:
                archive = zipfile.ZipFile(io.BytesIO(handle.read()))
            profile = json.loads(archive.read("json/profile.json"))[0]
            assert (profile["full_name"], profile["phone"], profile["national_id"]) == (NAME, PHONE, NATIONAL_ID)
            assert json.loads(archive.read("json/payments.json"))[0]["amount"] == "250.00"


def test_after_erasure_a_dump_of_the_schema_holds_no_personal_data(django_db_setup, django_db_blocker) -> None:  # type: ignore[no-untyped-def]
    with own_provider(django_db_blocker, "dmp") as provider:
        with django_db_blocker.unblock(), tenant_context(provider):
            client = _subject()
            balance = client_balance(client.pk)
        before = _dump(provider.schema_name)
        assert LOGIN in before  # a login email is kept in clear while the account exists
        for clear in (NAME, PHONE, EMAIL, NATIONAL_ID, PLOT, "254733444555", "ZAWADI", "Meter check"):
            assert clear not in before, f"{clear!r} stored in clear"
        with django_db_blocker.unblock(), tenant_context(provider):
            record = client_pseudonymise(client=client, actor="owner@test")
        after = _dump(provider.schema_name)
        for gone in (LOGIN, NAME, PHONE, EMAIL, NATIONAL_ID, PLOT, "ZAWADI", "KIPRONO", "Meter check"):
            assert gone not in after, gone
        with django_db_blocker.unblock(), tenant_context(provider):
            row = Client.objects.get(pk=client.pk)
            assert row.full_name == f"Erased client {record.pseudonym}"
            # No ciphertext of the erased values is left either: the columns are empty.
            with connection.cursor() as cursor:
                cursor.execute("SELECT phone, email, national_id, location FROM clients_client WHERE id = %s",
                               [client.pk])
                assert cursor.fetchone() == ("", "", "", "")
                cursor.execute("SELECT payer, payer_name FROM payments_payment")
                assert cursor.fetchall() == [("", "")]
            assert client_balance(client.pk) == balance == D("550.00")
            assert Payment.objects.get().amount == D("250.00")
        connection.set_schema_to_public()
