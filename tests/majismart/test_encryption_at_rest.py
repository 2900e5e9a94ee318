"""Issue 7, protection: every personal field is ciphertext in the database (and in a dump of a
provider's schema), names stay searchable by whole word through keyed tokens, and
`rotate_encryption_keys` re-encrypts everything under the newest key online: resumable,
idempotent, never overwriting an edit made meanwhile."""

from __future__ import annotations

import json
import subprocess
from io import StringIO

from cryptography.fernet import Fernet, MultiFernet
from django.core.management import call_command
from django.db import connection
from django.test import Client as Http
from django_tenants.utils import tenant_context

from billing.selectors import invoice_search
from clients.models import Category, Client
from clients.selectors import client_search
from clients.services import client_create
from devkit.testing import pg_dump
from majismart import crypto, key_rotation
from notifications.models import Message
from notifications.services import Outgoing, notify, send_messages
from payments.models import CallbackInbox, Payment
from payments.services import payment_record
from tests.billing_helpers import D, own_provider
from tests.conftest import api_client, host_of, login
from tests.notifications_helpers import committed, sms_ready
from tests.payments.test_payments import confirmation, post

NAME = "Wanjiku Nyambura-Otieno"
PHONE = "+254722334455"
EMAIL = "wanjiku.nyambura@mail.test"
NATIONAL_ID = "27654321"
LOCATION = "Plot 14 Kiambu Road, Ruaka"
MSISDN = "254722334455"  # as Daraja sends it, unmasked (older API versions, statements)
PAYER = {"FirstName": "WANJIKU", "MiddleName": "NYAMBURA", "LastName": "OTIENO"}
PAYER_NAME = "WANJIKU NYAMBURA OTIENO"

# Every column that holds personal data in the provider apps, encrypted.
ENCRYPTED = {
    "clients_client": ("full_name", "location", "phone", "email", "national_id"),
    "payments_payment": ("payer", "payer_name"),
    "payments_callbackinbox": ("body",),
    "payments_paymentrequest": ("phone",),
    "notifications_message": ("text", "subject", "recipient"),
    "notifications_deliveryreport": ("body",),
}
# What must never appear in clear (any case) in the database.
SECRETS = ("Wanjiku", "Nyambura", "Otieno", "722334455", "wanjiku.nyambura", NATIONAL_ID, "Kiambu", "Ruaka")


def _person() -> Client:
    return client_create(actor="test", full_name=NAME, phone=PHONE, email=EMAIL, national_id=NATIONAL_ID,
                         location=LOCATION, category=Category.objects.get(code="domestic"))


def _paid_by_callback(http: Http, provider, client: Client, trans_id: str) -> None:  # type: ignore[no-untyped-def]
    """An M-Pesa C2B confirmation through the hot path (the prepared INSERT) and the batch drain."""
    body = confirmation(client.account_number, "350.00", trans_id, MSISDN=MSISDN, **PAYER)
    response = post(http, f"/payments/mpesa/c2b/confirmation/{provider.callback_token}/", body)
    assert response.status_code == 200


def _messaged(client: Client) -> None:
    """An SMS (sent through the Africa's Talking stand-in) and an email that name the client."""
    sms_ready()
    values = {"name": client.full_name, "account": client.account_number, "text": f"Karibu {client.full_name}"}
    with committed():
        notify(event="account_message", channel="sms", outgoing=[Outgoing("enc-sms", PHONE, values, client.pk)])
        notify(event="account_message", channel="email", outgoing=[Outgoing("enc-mail", EMAIL, values, client.pk)],
               subject="Hello {name}")
    send_messages()


def _raw(table: str, columns: tuple[str, ...]) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT {", ".join(columns)} FROM "{table}"')  # noqa: S608 - names from ENCRYPTED
        return [v for row in cursor.fetchall() for v in row if v]


def test_every_personal_column_is_ciphertext_and_reads_back_in_clear(tenant, alpha, at) -> None:  # type: ignore[no-untyped-def]
    client = _person()
    with committed():
        _paid_by_callback(Http(HTTP_HOST=host_of("alpha")), alpha, client, "ENC0000001")
    connection.set_tenant(alpha)
    _messaged(client)
    payment_record(method=Payment.Method.CASH, receipt="CASH-ENC-1", amount=D("10.00"), paid_at=client.created,
                   client=client, payer=PHONE, payer_name="Mama Wanjiku")  # the other raw INSERT

    for table, columns in ENCRYPTED.items():
        for column in columns:
            values = _raw(table, (column,))
            if table not in ("notifications_deliveryreport", "payments_paymentrequest"):  # none made here
                assert values, f"{table}.{column}: nothing was stored"
            for value in values:
                assert value.startswith("enc1:"), f"{table}.{column} holds a clear value"
                assert not any(s.lower() in value.lower() for s in SECRETS), f"{table}.{column}"
                crypto.decrypt(value)  # a real token of the configured keys
    # The code sees the clear values.
    fresh = Client.objects.get(pk=client.pk)
    assert (fresh.full_name, fresh.location, fresh.phone, fresh.email, fresh.national_id) == (
        NAME, LOCATION, PHONE, EMAIL, NATIONAL_ID)
    paid = Payment.objects.get(receipt="ENC0000001")
    assert (paid.client_id, paid.amount, paid.payer, paid.payer_name) == (client.pk, D("350.00"), MSISDN, PAYER_NAME)
    assert json.loads(CallbackInbox.objects.get(payments=paid).body)["MSISDN"] == MSISDN
    assert Payment.objects.get(receipt="CASH-ENC-1").payer_name == "Mama Wanjiku"
    sms = Message.objects.get(channel="sms", event="account_message")
    email = Message.objects.get(channel="email", event="account_message")
    assert sms.status == "sent" and NAME in sms.text and sms.recipient == PHONE
    assert email.subject == f"Hello {NAME}" and NAME in email.text
    assert len(at.messages) == 1 and NAME in at.messages[0]["message"]  # the stand-in got the clear text
    # The name's clear index is gone; only keyed word tokens remain.
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'clients_client'",
                       [alpha.schema_name])
        indexes = [row[0] for row in cursor.fetchall()]
    assert not any("(full_name)" in i for i in indexes) and any("gin (name_tokens)" in i for i in indexes)
    assert fresh.name_tokens == crypto.word_tokens("wanjiku NYAMBURA otieno")


def test_rotation_covers_every_encrypted_column_of_the_provider_apps() -> None:
    found = {t.table: set(t.columns) for t in key_rotation.targets()}
    for table, columns in ENCRYPTED.items():
        assert set(columns) <= found[table], table
    assert {"accounts_user", "tenants_provider", "payments_paymentsettings"} <= set(found)


def test_a_dump_of_a_provider_schema_shows_no_personal_data(django_db_setup, django_db_blocker, at) -> None:  # type: ignore[no-untyped-def]
    """pg_dump reads through its own connection, so the data is committed: a provider of its own,
    dropped afterwards (tests.billing_helpers.own_provider)."""
    from tests.billing_helpers import domestic_tariff

    with own_provider(django_db_blocker, "enc") as provider:
        with django_db_blocker.unblock(), tenant_context(provider):
            domestic_tariff()
            client = _person()
            _paid_by_callback(Http(HTTP_HOST=host_of(provider.slug)), provider, client, "DMP0000001")
            connection.set_tenant(provider)
            _messaged(client)
            assert Payment.objects.get(receipt="DMP0000001").payer_name == PAYER_NAME  # committed, processed
            assert Message.objects.filter(status="sent", event="account_message").count() == 2
            cfg = connection.settings_dict
            dump = subprocess.run(
                [pg_dump(), f"--schema={provider.schema_name}", "--data-only", "--no-owner",
                 "-h", cfg["HOST"] or "127.0.0.1", "-p", str(cfg["PORT"] or 5432), "-U", cfg["USER"], cfg["NAME"]],
                capture_output=True, text=True, timeout=120, check=True,
                env={"PGPASSWORD": cfg.get("PASSWORD") or "", "PATH": "/usr/bin:/bin"}).stdout
        connection.set_schema_to_public()
    # The dump holds the rows (tokens, the account number, amounts)...
    assert client.account_number in dump and "enc1:" in dump and "DMP0000001" in dump
    # ...and none of the person's data in clear.
    lowered = dump.lower()
    leaks = [s for s in SECRETS if s.lower() in lowered]
    assert leaks == [], f"in clear in the dump: {leaks}"


# --- rotation ----------------------------------------------------------------------------------
def _every_token() -> list[tuple[str, str, str]]:
    """(schema, table.column, token) of every encrypted value in the database."""
    found = []
    for schema in key_rotation.schemas():
        for target in key_rotation.targets():
            if not key_rotation.table_exists(schema, target.table):
                continue
            with connection.cursor() as cursor:
                cursor.execute(f'SELECT {", ".join(target.columns)} FROM "{schema}"."{target.table}"')  # noqa: S608
                for row in cursor.fetchall():
                    found += [(schema, f"{target.table}.{c}", v) for c, v in zip(target.columns, row, strict=True) if v]
    return found


def _rotate(*args: str) -> str:
    out = StringIO()
    call_command("rotate_encryption_keys", *args, stdout=out)
    return out.getvalue()


def test_rotation_reencrypts_everything_under_the_new_key_and_keeps_every_value_readable(
        tenant, alpha, settings) -> None:  # type: ignore[no-untyped-def]
    old = list(settings.FIELD_ENCRYPTION_KEYS)
    client = _person()
    payment_record(method=Payment.Method.MPESA, receipt="ROT0000001", amount=D("120.00"), paid_at=client.created,
                   client=client, payer=MSISDN, payer_name=PAYER_NAME)
    notify(event="account_message", channel="email", outgoing=[Outgoing("rot", EMAIL, {"text": NAME}, client.pk)])
    login(Http(HTTP_HOST=host_of("alpha")), "amos@alpha.test")  # an audit row with an (encrypted) address
    connection.set_tenant(alpha)
    before = {(s, c, crypto.decrypt(v)) for s, c, v in _every_token()}
    assert any(c == "accounts_auditevent.ip" for _, c, _ in before)  # the append-only audit log too
    assert ("alpha", "clients_client.full_name", NAME) in before

    new = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new, *old]
    dry = _rotate("--dry-run")
    assert "Would re-encrypt" in dry and "alpha.clients_client: " in dry
    assert not any(crypto.is_current(v) for _, _, v in _every_token())  # a dry run changes nothing

    out = _rotate()
    assert "alpha.clients_client: " in out and "public.accounts_user: " in out
    assert "Re-encrypted 0 values" not in out
    tokens = _every_token()
    only_new = MultiFernet([Fernet(new.encode())])
    for _schema, _column, token in tokens:  # every raw token now opens with the new key alone
        only_new.decrypt(token[len("enc1:"):].encode())
    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key retired: every value still reads the same
    assert {(s, c, crypto.decrypt(v)) for s, c, v in tokens} == before
    fresh = Client.objects.get(pk=client.pk)
    assert (fresh.full_name, fresh.phone, fresh.location) == (NAME, PHONE, LOCATION)
    assert Payment.objects.get(receipt="ROT0000001").payer_name == PAYER_NAME
    # Blind indexes are keyed apart from the Fernet keys: search is unchanged.
    assert list(client_search(query="0722 334 455")) == [fresh]
    assert list(client_search(query="nyambura")) == [fresh]
    assert Client.objects.get(national_id_index=crypto.blind_index(NATIONAL_ID)) == fresh

    again = _rotate()  # idempotent: nothing is left to do
    assert "Re-encrypted 0 values" in again
    assert _rotate("--dry-run").count("Would re-encrypt 0 values") == 1
    # The old name of the command still works.
    alias = StringIO()
    call_command("rotate_encryption", stdout=alias)
    assert "Re-encrypted 0 values" in alias.getvalue()


def _client_target() -> key_rotation.Target:
    return next(t for t in key_rotation.targets() if t.table == "clients_client")


def test_rotation_never_overwrites_a_value_edited_meanwhile(tenant, alpha, settings) -> None:  # type: ignore[no-untyped-def]
    old = list(settings.FIELD_ENCRYPTION_KEYS)
    clients = [client_create(actor="test", full_name=f"Rotating Client {i}", phone=f"+25472200000{i}",
                             category=Category.objects.get(code="domestic")) for i in range(4)]
    new = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new, *old]
    target = _client_target()

    # A staff edit lands between the batch's read and its write: the edit stands.
    batch = key_rotation.read_batch("alpha", target, size=500)
    planned = {(c.pk, c.column) for c in batch.changes}
    assert (clients[1].pk, "full_name") in planned
    edited = Client.objects.get(pk=clients[1].pk)
    edited.full_name = "Renamed Meanwhile"
    edited.save(update_fields=["full_name"])
    written = key_rotation.write_batch("alpha", target, batch.changes)
    assert (clients[1].pk, "full_name") not in {(c.pk, c.column) for c in written}
    assert len(written) == len(batch.changes) - 1
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert Client.objects.get(pk=clients[1].pk).full_name == "Renamed Meanwhile"
    assert [c.full_name for c in Client.objects.filter(pk__in=[c.pk for c in clients]).order_by("pk")] == [
        "Rotating Client 0", "Renamed Meanwhile", "Rotating Client 2", "Rotating Client 3"]
    assert list(client_search(query="renamed meanwhile")) == [Client.objects.get(pk=clients[1].pk)]

    # Edits between batches (one row per batch here): one behind the walk, one ahead of it.
    newer = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [newer, new]
    seen = []

    def edit(last_pk):  # type: ignore[no-untyped-def]
        seen.append(last_pk)
        if len(seen) == 2:
            for pk, name in ((clients[0].pk, "Edited Behind"), (clients[3].pk, "Edited Ahead")):
                c = Client.objects.get(pk=pk)
                c.full_name = name
                c.save()

    with tenant_context(alpha):
        count = key_rotation.rotate_table("alpha", target, size=1, between_batches=edit)
    assert len(seen) == count.rows and count.rows >= 4  # one batch per row
    assert count.changed_meanwhile == 0 and count.unreadable == 0
    settings.FIELD_ENCRYPTION_KEYS = [newer]
    names = {c.pk: c.full_name for c in Client.objects.filter(pk__in=[c.pk for c in clients])}
    assert names == {clients[0].pk: "Edited Behind", clients[1].pk: "Renamed Meanwhile",
                     clients[2].pk: "Rotating Client 2", clients[3].pk: "Edited Ahead"}
    assert all(crypto.is_current(v) for v in _raw("clients_client", target.columns))


def test_rotation_encrypts_a_clear_leftover_and_leaves_unreadable_tokens_alone(tenant, alpha, settings) -> None:  # type: ignore[no-untyped-def]
    client = _person()
    stranger = "enc1:" + Fernet(Fernet.generate_key()).encrypt(b"from another system").decode()
    with connection.cursor() as cursor:  # what a missed migration or a foreign restore would leave
        cursor.execute("UPDATE clients_client SET location = 'Plot 9 Ruaka', email = %s WHERE id = %s",
                       [stranger, client.pk])
    count = key_rotation.rotate_table("alpha", _client_target())
    assert (count.clear, count.unreadable) == (1, 1)
    location, email = _raw_row(client.pk)
    assert location.startswith("enc1:") and crypto.decrypt(location) == "Plot 9 Ruaka"
    assert email == stranger  # no key opens it: left for someone to look at, never destroyed


def _raw_row(pk: int) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT location, email FROM clients_client WHERE id = %s", [pk])
        return cursor.fetchone()


# --- search by name --------------------------------------------------------------------------------
def test_names_are_found_by_whole_words_in_the_dashboard_and_the_api(tenant, alpha, beta) -> None:  # type: ignore[no-untyped-def]
    client = _person()
    other = client_create(actor="test", full_name="Otieno Ouma", category=Category.objects.get(code="domestic"))
    connection.set_schema_to_public()

    http = Http(HTTP_HOST=host_of("alpha"))
    login(http, "amos@alpha.test")
    page = http.get("/dashboard/clients/?q=nyambura").content.decode()
    assert NAME in page and "Otieno Ouma" not in page
    both = http.get("/dashboard/clients/?q=OTIENO").content.decode()  # any case; the hyphen separates words
    assert NAME in both and "Otieno Ouma" in both
    assert "Otieno Ouma" not in http.get("/dashboard/clients/?q=otien").content.decode()  # whole words only
    assert NAME in http.get("/dashboard/clients/?q=otieno+wanjiku").content.decode()  # any order

    from tests.conftest import API_KEYS

    api = api_client("alpha", API_KEYS["alpha"])
    found = api.get("/api/v1/clients/", {"search": "Wanjiku Otieno"}).json()
    assert [c["account_number"] for c in found["results"]] == [client.account_number]
    assert found["results"][0]["full_name"] == NAME and found["results"][0]["location"] == LOCATION
    assert [c["account_number"] for c in api.get("/api/v1/clients/?search=ouma").json()["results"]] == [
        other.account_number]
    # Account numbers are still found by prefix.
    assert client.account_number in [c["account_number"] for c in api.get(
        f"/api/v1/clients/?search={client.account_number[:4]}").json()["results"]]
    # Beta never finds alpha's clients, by name or otherwise.
    assert api_client("beta", API_KEYS["beta"]).get("/api/v1/clients/?search=wanjiku").json()["count"] == 0
    with tenant_context(alpha):
        assert list(invoice_search(query="wanjiku")) == []  # no invoices yet, and the search runs
    with tenant_context(beta):
        assert not client_search(query="wanjiku").exists()


def test_the_message_preferences_leave_analytics_consent_alone(tenant, alpha) -> None:  # type: ignore[no-untyped-def]
    from notifications.models import DEFAULT_TOPICS, Consent
    from notifications.services import consent_map, consent_record

    assert DEFAULT_TOPICS[Consent.Topic.ANALYTICS] is False
    client = _person()
    consent_record(client_id=client.pk, choices={"analytics": True}, source="cookie_banner", actor="test")
    connection.set_schema_to_public()
    http = Http(HTTP_HOST=host_of("alpha"))
    login(http, "amos@alpha.test")
    detail = http.get(f"/dashboard/clients/{client.pk}/").content.decode()
    assert 'name="sms"' in detail and 'name="analytics"' not in detail
    response = http.post(f"/dashboard/clients/{client.pk}/preferences/", {"sms": "on"})
    assert response.status_code == 302
    with tenant_context(alpha):
        assert consent_map([client.pk])[client.pk] == {"sms": True, "email": False, "marketing": False,
                                                       "analytics": True}


def test_a_callback_no_key_opens_is_flagged_and_processed_once_the_key_is_back(
        tenant, alpha, settings) -> None:  # type: ignore[no-untyped-def]
    """A key left out of FIELD_ENCRYPTION_KEYS: stored callbacks cannot be read, so they are
    flagged (not lost, not retried in a loop); the sweeper processes them, once, as soon as the
    key is configured again."""
    from datetime import timedelta

    from django.utils import timezone

    from payments.batch import process_confirmations
    from payments.inbox import UNDECRYPTABLE, confirmation_store, inbox_store
    from payments.tasks import sweep_inbox

    client = _person()
    old = list(settings.FIELD_ENCRYPTION_KEYS)
    confirmation_store(body=json.dumps(confirmation(client.account_number, "250.00", "UND0000001")).encode(),
                       headers={}, source_ip="196.201.214.200")
    stk = inbox_store(kind=CallbackInbox.Kind.STK_CALLBACK, body=b'{"Body": {}}', headers={}, source_ip=None)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old key is missing
    assert process_confirmations() == 1
    from payments.callbacks import inbox_process

    inbox_process(stk.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, note FROM payments_callbackinbox ORDER BY id")
        assert cursor.fetchall() == [("invalid", UNDECRYPTABLE), ("invalid", UNDECRYPTABLE)]
    assert not Payment.objects.exists()
    CallbackInbox.objects.update(received=timezone.now() - timedelta(minutes=10))
    sweep_inbox()  # still no key: still flagged, nothing paid
    assert not Payment.objects.exists()
    assert CallbackInbox.objects.filter(status="invalid").count() == 2

    settings.FIELD_ENCRYPTION_KEYS = [settings.FIELD_ENCRYPTION_KEYS[0], *old]  # the key is back
    sweep_inbox()
    payment = Payment.objects.get()
    assert (payment.receipt, payment.amount, payment.client_id) == ("UND0000001", D("250.00"), client.pk)
    statuses = dict(CallbackInbox.objects.values_list("kind", "status"))
    assert statuses[CallbackInbox.Kind.C2B_CONFIRMATION] == "processed"
    assert statuses[CallbackInbox.Kind.STK_CALLBACK] != "received"  # read now (its own verdict on the body)
    sweep_inbox()  # and only once
    assert Payment.objects.count() == 1


def test_only_a_body_no_key_opens_waits_for_the_key_and_retention_keeps_it(tenant, alpha, settings) -> None:  # type: ignore[no-untyped-def]
    """A callback whose own body reads but whose payment request does not (a key gone) is a
    processing failure, not re-queued by every sweep; a body stored as no token at all is
    flagged in the batch without holding up the others; retention never removes a callback that
    waits for its key."""
    from datetime import timedelta

    from django.utils import timezone

    from payments.batch import process_confirmations
    from payments.callbacks import inbox_process
    from payments.inbox import UNDECRYPTABLE, confirmation_store, inbox_store
    from payments.models import PaymentRequest
    from payments.tasks import sweep_inbox
    from privacy.retention import retention_apply

    client = _person()
    PaymentRequest.objects.create(channel="stk", reference="ws_CO_KEY", client=client, amount=D("5"), phone=PHONE)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the request's (and client's) key gone
    stk = inbox_store(kind=CallbackInbox.Kind.STK_CALLBACK, headers={}, source_ip=None, body=json.dumps(
        {"Body": {"stkCallback": {"MerchantRequestID": "m", "CheckoutRequestID": "ws_CO_KEY", "ResultCode": 1032,
                                  "ResultDesc": "Request cancelled by user"}}}).encode())
    inbox_process(stk.pk)
    stk.refresh_from_db()
    assert stk.status == "invalid" and stk.note.startswith("Processing failed") and stk.note != UNDECRYPTABLE
    CallbackInbox.objects.filter(pk=stk.pk).update(received=timezone.now() - timedelta(minutes=10))
    sweep_inbox()
    stk.refresh_from_db()
    assert stk.status == "invalid" and stk.note.startswith("Processing failed")  # not put back in the queue

    # A body that is no token at all (not stored by the endpoint) is flagged on its own row.
    confirmation_store(body=json.dumps(confirmation("NO-SUCH", "10.00", "BAT0000001")).encode(), headers={},
                       source_ip=None)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO payments_callbackinbox (kind, body, headers, status, note, received) "
                       "VALUES ('c2b_confirmation', '{\"TransID\": \"PLAIN\"}', '{}', 'received', '', now())")
    assert process_confirmations() == 2
    assert Payment.objects.filter(receipt="BAT0000001").exists()
    plain = CallbackInbox.objects.filter(kind="c2b_confirmation").order_by("-id").values_list("status", "note")[0]
    assert plain[0] == "invalid" and "not an encrypted token" in plain[1]

    # Retention: a callback waiting for its key stays, however old; the one that failed goes.
    waiting = confirmation_store  # stored under a key that is then removed:
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.FIELD_ENCRYPTION_KEYS]
    waiting(body=json.dumps(confirmation("NO-SUCH", "20.00", "KEY0000001")).encode(), headers={}, source_ip=None)
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[1:]
    assert process_confirmations() == 1
    assert CallbackInbox.objects.filter(note=UNDECRYPTABLE).count() == 1
    CallbackInbox.objects.update(processed=timezone.now() - timedelta(days=400),
                                 received=timezone.now() - timedelta(days=400))
    run = retention_apply(dry_run=True)
    assert run.counts["callbacks"] == CallbackInbox.objects.count() - 1
    retention_apply()
    assert list(CallbackInbox.objects.values_list("note", flat=True)) == [UNDECRYPTABLE]
