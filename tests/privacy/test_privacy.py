"""The rights we publish, self-served: a copy of one's data (exactly one's own), correction,
objection and restriction, consent per purpose, deletion that keeps what the law requires under
a pseudonym, and the provider's queue with its legal due dates."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.files.storage import default_storage
from django.test import Client as Http
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import AuditEvent, User
from billing.models import Invoice, LedgerEntry
from billing.selectors import client_balance
from clients.models import Client
from meters.models import Reading
from notifications.models import Consent, Message
from notifications.services import Outgoing, consent_map, notify
from payments.inbox import inbox_store
from payments.models import CallbackInbox, Payment
from payments.services import payment_record
from privacy.models import DataExport, DataRequest, ErasureRecord
from privacy.services import requests_remind
from tests.billing_helpers import D, billed_twice, metered, on, read
from tests.conftest import PASSWORD, host_of, login
from tests.notifications_helpers import committed, sms_ready

PHONE = "+254712345678"
OTHER_PHONE = "+254799000111"


def as_user(email: str, slug: str = "alpha") -> Http:
    http = Http(HTTP_HOST=host_of(slug))
    login(http, email)
    return http


def _paid(client: Client, receipt: str, amount: str, payer_name: str) -> Payment:
    body = json.dumps({"TransID": receipt, "TransAmount": amount, "BillRefNumber": client.account_number,
                       "MSISDN": "2547****678", "FirstName": payer_name}).encode()
    inbox = inbox_store(kind=CallbackInbox.Kind.C2B_CONFIRMATION, body=body, headers={}, source_ip="196.201.214.200")
    return payment_record(method=Payment.Method.MPESA, receipt=receipt, amount=D(amount), paid_at=on("2026-11-10"),
                          client=client, account_reference=client.account_number, payer="2547****678",
                          payer_name=payer_name, inbox=inbox).payment


@pytest.fixture
def carol(tenant):  # type: ignore[no-untyped-def]
    """Carol's account: two bills (500.00 + 940.00), a payment of 300.00, contact details, an SMS."""
    sms_ready()
    client = billed_twice("Carol Chebet")
    client.user = User.objects.get(email="carol@alpha.test")
    client.phone, client.email, client.national_id = PHONE, "carol.home@example.com", "23456789"
    client.location = "Plot 7, Kahawa West"
    client.save()
    _paid(client, "SKC0000001", "300.00", "CAROL")
    with committed():
        notify(event="account_message", channel="sms", outgoing=[
            Outgoing(f"t:{client.pk}", PHONE, {"name": client.full_name, "account": client.account_number,
                                               "text": "Your meter will be replaced on Friday."}, client.pk)])
    return client


@pytest.fixture
def neighbour(tenant):  # type: ignore[no-untyped-def]
    """Another client of the same provider, who must never appear in Carol's export."""
    client, meter = metered("Nelson Neighbour")
    client.phone, client.email, client.national_id = OTHER_PHONE, "nelson@example.com", "99887766"
    client.save()
    read(meter, "0", "2026-08-31")
    read(meter, "7", "2026-09-30")
    _paid(client, "SKN0000001", "150.00", "NELSON")
    return client


def _zip_of(response) -> zipfile.ZipFile:  # type: ignore[no-untyped-def]
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def _export(http: Http) -> DataExport:
    with committed():
        assert http.post("/portal/privacy/", {"action": "export"}).status_code == 302
    return DataExport.objects.get()


# --- a copy of one's data ------------------------------------------------------------------------
def test_the_export_holds_exactly_the_requesters_data(carol, neighbour) -> None:  # type: ignore[no-untyped-def]
    http = as_user("carol@alpha.test")
    export = _export(http)
    assert (export.status, export.progress, export.client_id) == ("ready", 100, carol.pk)
    request = DataRequest.objects.get()
    assert (request.kind, request.status, request.due_at - request.created < timedelta(days=7, seconds=1)) == (
        "export", "done", True)
    page = http.get("/portal/privacy/")
    assert b"Download zip" in page.content and export.token.encode() in page.content

    archive = _zip_of(http.get(f"/portal/privacy/exports/{export.token}/"))
    names = set(archive.namelist())
    for dataset in ("profile", "portal_account", "meters", "readings", "invoices", "invoice_lines", "ledger",
                    "payments", "allocations", "messages", "consents", "privacy_requests"):
        assert {f"json/{dataset}.json", f"csv/{dataset}.csv"} <= names, dataset
    data = {n[5:-5]: json.loads(archive.read(n)) for n in names if n.startswith("json/")}
    assert data["profile"] == [{**data["profile"][0], "full_name": "Carol Chebet", "phone": PHONE,
                                "email": "carol.home@example.com", "national_id": "23456789",
                                "location": "Plot 7, Kahawa West", "account_number": carol.account_number}]
    assert sorted((i["period"], i["total"]) for i in data["invoices"]) == [("2026-09", "500.00"), ("2026-10", "940.00")]
    assert [(p["receipt"], p["amount"]) for p in data["payments"]] == [("SKC0000001", "300.00")]
    assert "payer_name" not in data["payments"][0]  # who paid may be someone else
    assert sum(D(e["amount"]) for e in data["ledger"]) == client_balance(carol.pk) == D("1140.00")
    assert len(data["readings"]) == 3 and data["portal_account"][0]["email"] == "carol@alpha.test"
    assert "Your meter will be replaced on Friday." in data["messages"][0]["text"]
    everything = b"".join(archive.read(n) for n in names)
    for theirs in ("Nelson", "nelson@example.com", OTHER_PHONE, "99887766", "SKN0000001", neighbour.account_number):
        assert theirs.encode() not in everything, theirs
    assert "KES" in archive.read("README.txt").decode() and "controller" in archive.read("README.txt").decode()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"privacy.request_export", "privacy.export_requested", "privacy.export_ready",
            "privacy.export_downloaded"} <= actions
    assert DataExport.objects.get().downloads == 1


def test_an_export_is_its_owners_alone_and_expires(carol, neighbour) -> None:  # type: ignore[no-untyped-def]
    export = _export(as_user("carol@alpha.test"))
    url = f"/portal/privacy/exports/{export.token}/"
    neighbour.user = User.objects.create_user("nelson@alpha.test", PASSWORD, full_name="Nelson", role="client")
    neighbour.save()
    assert as_user("nelson@alpha.test").get(url).status_code == 404
    assert as_user("nelson@alpha.test").get(f"/portal/privacy/exports/{export.pk}/status/").status_code == 404
    assert as_user("alice@alpha.test").get(url).status_code == 403  # staff use the dashboard, not this link
    assert Http(HTTP_HOST=host_of("alpha")).get(url).status_code == 302  # log in first
    assert as_user("bob@beta.test", "beta").get(url).status_code in (403, 404)
    with time_machine.travel(export.expires_at + timedelta(seconds=1), tick=False):
        expired = as_user("carol@alpha.test").get(url)
    assert expired.status_code == 302 and DataExport.objects.get().downloads == 0


def test_a_second_export_waits_for_the_first(carol) -> None:  # type: ignore[no-untyped-def]
    http = as_user("carol@alpha.test")
    assert http.post("/portal/privacy/", {"action": "export"}).status_code == 302  # not built yet (no commit)
    again = http.post("/portal/privacy/", {"action": "export"})
    assert again.status_code == 400 and b"already being prepared" in again.content
    assert DataExport.objects.count() == 1


# --- correction, objection, restriction, consent -------------------------------------------------
def test_a_correction_is_logged_with_its_due_date_and_answered_by_staff(carol) -> None:  # type: ignore[no-untyped-def]
    http = as_user("carol@alpha.test")
    empty = http.post("/portal/privacy/", {"action": "correction", "details": "  "})
    assert empty.status_code == 400 and b"Tell us what is wrong" in empty.content
    with time_machine.travel(on("2026-11-23", 10), tick=False):
        assert http.post("/portal/privacy/", {"action": "correction",
                                              "details": "My plot is 17, not 7."}).status_code == 302
    req = DataRequest.objects.get()
    assert (req.kind, req.status, req.source, req.details) == ("correction", "open", "portal", "My plot is 17, not 7.")
    assert req.due_at == on("2026-11-30", 10)

    owner = as_user("amos@alpha.test")  # a manager
    assert b"My plot is 17" in owner.get(f"/dashboard/privacy/requests/{req.pk}/").content
    assert f"/dashboard/privacy/requests/{req.pk}/".encode() in owner.get("/dashboard/privacy/requests/").content
    refused = owner.post(f"/dashboard/privacy/requests/{req.pk}/", {"action": "resolve", "status": "refused"})
    assert refused.status_code == 400 and b"Give the reasons" in refused.content
    silent = owner.post(f"/dashboard/privacy/requests/{req.pk}/", {"action": "resolve", "status": "done"})
    assert silent.status_code == 400 and b"Say what was done" in silent.content
    done = owner.post(f"/dashboard/privacy/requests/{req.pk}/", {"action": "resolve", "status": "done",
                                                                 "resolution": "Plot corrected to 17."})
    assert done.status_code == 302
    req.refresh_from_db()
    assert (req.status, req.resolved_by, req.resolution) == ("done", "amos@alpha.test", "Plot corrected to 17.")
    assert b"Plot corrected to 17." in http.get("/portal/privacy/").content
    assert AuditEvent.objects.filter(action="privacy.request_done").exists()


def test_an_objection_withdraws_the_matching_consents_at_once(carol) -> None:  # type: ignore[no-untyped-def]
    http = as_user("carol@alpha.test")
    none = http.post("/portal/privacy/", {"action": "objection"})
    assert none.status_code == 400 and b"at least one purpose" in none.content
    assert http.post("/portal/privacy/", {"action": "objection", "purposes": ["sms", "profiling"],
                                          "details": "Email only please."}).status_code == 302
    req = DataRequest.objects.get()
    assert (req.kind, req.purposes, req.status) == ("objection", ["sms", "profiling"], "open")
    assert consent_map([carol.pk])[carol.pk]["sms"] is False
    assert Consent.objects.filter(client_id=carol.pk, topic="sms", granted=False, source="privacy_request").exists()
    with committed():
        notify(event="account_message", channel="sms", outgoing=[
            Outgoing(f"after:{carol.pk}", PHONE, {"text": "Supply back at 6pm."}, carol.pk)])
    stopped = Message.objects.get(dedup_key__startswith="account_message:sms:after")
    assert stopped.status == "skipped"

    assert http.post("/portal/privacy/", {"action": "restriction", "purposes": ["marketing"]}).status_code == 302
    assert DataRequest.objects.filter(kind="restriction", purposes=["marketing"]).exists()


def test_consent_is_given_and_withdrawn_per_purpose(carol) -> None:  # type: ignore[no-untyped-def]
    http = as_user("carol@alpha.test")
    assert http.post("/portal/privacy/", {"action": "consent", "sms": "on", "email": "on", "marketing": "on",
                                          "analytics": "on"}).status_code == 302
    assert consent_map([carol.pk])[carol.pk] == {"sms": True, "email": True, "marketing": True, "analytics": True}
    assert http.post("/portal/privacy/", {"action": "consent", "sms": "on"}).status_code == 302
    assert consent_map([carol.pk])[carol.pk] == {"sms": True, "email": False, "marketing": False, "analytics": False}
    rows = list(Consent.objects.filter(client_id=carol.pk).order_by("id").values_list("topic", "granted", "source"))
    assert rows == [("marketing", True, "portal"), ("analytics", True, "portal"), ("email", False, "portal"),
                    ("marketing", False, "portal"), ("analytics", False, "portal")]
    assert all(Consent.objects.filter(client_id=carol.pk).values_list("policy_version", flat=True))


# --- deletion ------------------------------------------------------------------------------------
def test_deletion_erases_personal_data_and_keeps_the_books(carol, neighbour) -> None:  # type: ignore[no-untyped-def]
    balance = client_balance(carol.pk)
    entries = LedgerEntry.objects.filter(client=carol).count()
    http = as_user("carol@alpha.test")
    unconfirmed = http.post("/portal/privacy/", {"action": "deletion"})
    assert unconfirmed.status_code == 400 and b"Tick the box" in unconfirmed.content
    assert http.post("/portal/privacy/", {"action": "deletion", "confirm": "on", "details": "Moving away."}).status_code == 302
    req = DataRequest.objects.get(kind="deletion")
    pdf = f"invoices/2026-10/{Invoice.objects.get(client=carol, period='2026-10').number}.pdf"
    if default_storage.exists(pdf):  # left by an earlier run
        default_storage.delete(pdf)
    assert default_storage.save(pdf, io.BytesIO(b"%PDF-1.4 Carol Chebet")) == pdf

    owner = as_user("alice@alpha.test")
    too_soon = owner.post(f"/dashboard/privacy/requests/{req.pk}/", {"action": "resolve", "status": "done"})
    assert too_soon.status_code == 400 and b"Erase the personal data first" in too_soon.content
    wrong = owner.post(f"/dashboard/privacy/requests/{req.pk}/", {"action": "erase", "confirm": "nope"})
    assert wrong.status_code == 400 and not ErasureRecord.objects.exists()
    with committed():  # stored files go after the commit
        assert owner.post(f"/dashboard/privacy/requests/{req.pk}/",
                          {"action": "erase", "confirm": carol.account_number}).status_code == 302

    record = ErasureRecord.objects.get()
    gone = Client.objects.get(pk=carol.pk)
    assert gone.full_name == f"Erased client {record.pseudonym}" and gone.status == "closed"
    assert (gone.phone, gone.email, gone.national_id, gone.location, gone.user_id) == ("", "", "", "", None)
    assert (gone.phone_index, gone.email_index, gone.national_id_index) == ("", "", "")
    assert not User.objects.filter(email="carol@alpha.test").exists()
    assert not Message.objects.filter(client_id=carol.pk).exists()
    assert list(Payment.objects.filter(client=carol).values_list("payer", "payer_name", "amount")) == [("", "", D("300.00"))]
    assert CallbackInbox.objects.get(payments__client=carol).body == ""
    assert not default_storage.exists(pdf)
    # The books: every entry, invoice and reading kept, the balance to the cent.
    assert client_balance(carol.pk) == balance and LedgerEntry.objects.filter(client=carol).count() == entries
    assert Invoice.objects.filter(client=carol).count() == 2 and Reading.objects.filter(meter__client=carol).count() == 3
    assert not AuditEvent.objects.filter(actor="carol@alpha.test").exists()
    logins = AuditEvent.objects.filter(actor=record.pseudonym)
    assert logins.exists() and set(logins.values_list("ip", "user_agent")) == {("", "")}
    assert AuditEvent.objects.filter(action="privacy.client_erased").exists()
    req.refresh_from_db()
    assert (req.status, req.details) == ("done", "") and record.pseudonym in req.resolution
    # The neighbour is untouched.
    neighbour.refresh_from_db()
    assert (neighbour.full_name, neighbour.phone) == ("Nelson Neighbour", OTHER_PHONE)
    # Carol's login is gone; a second erasure changes nothing.
    assert login(Http(HTTP_HOST=host_of("alpha")), "carol@alpha.test").status_code == 200
    from privacy.erasure import client_pseudonymise

    assert client_pseudonymise(client=gone, actor="again") == record and ErasureRecord.objects.count() == 1


# --- the provider's side -------------------------------------------------------------------------
def test_the_queue_is_for_owners_and_managers_and_shows_what_is_overdue(carol) -> None:  # type: ignore[no-untyped-def]
    with time_machine.travel(on("2026-11-01"), tick=False):
        old = DataRequest.objects.create(kind="correction", client=carol, details="old", due_at=on("2026-11-08"))
    soon = DataRequest.objects.create(kind="objection", client=carol, purposes=["marketing"],
                                      due_at=timezone.now() + timedelta(days=1))
    page = as_user("alice@alpha.test").get("/dashboard/privacy/requests/")
    assert page.status_code == 200 and b"1 overdue" in page.content and b"2 open" in page.content
    html = page.content.decode()
    assert html.index(f"/dashboard/privacy/requests/{old.pk}/") < html.index(f"/dashboard/privacy/requests/{soon.pk}/")
    assert 'class="is-overdue"' in html and 'class="is-soon"' in html
    for email in ("anne@alpha.test", "ari@alpha.test", "carol@alpha.test"):
        assert as_user(email).get("/dashboard/privacy/requests/").status_code == 403, email
        assert as_user(email).get(f"/dashboard/privacy/requests/{old.pk}/").status_code == 403, email
    # Beta's owner sees none of alpha's requests, on beta's domain or by id.
    beta_owner = as_user("bob@beta.test", "beta")
    assert b"/dashboard/privacy/requests/" + str(old.pk).encode() not in beta_owner.get("/dashboard/privacy/requests/").content
    assert beta_owner.get(f"/dashboard/privacy/requests/{old.pk}/").status_code == 404


def test_the_queue_page_has_a_pinned_query_count(carol, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    for i in range(30):
        DataRequest.objects.create(kind="correction", client=carol, details=f"n{i}", due_at=timezone.now())
    http = as_user("amos@alpha.test")
    with django_assert_max_num_queries(12):
        assert http.get("/dashboard/privacy/requests/").status_code == 200


def test_staff_record_a_request_made_at_the_office(carol) -> None:  # type: ignore[no-untyped-def]
    http = as_user("amos@alpha.test")
    assert http.post("/dashboard/privacy/requests/new/", {"account": "NOPE", "kind": "correction"}).status_code == 302
    assert not DataRequest.objects.exists()
    assert http.post("/dashboard/privacy/requests/new/", {"account": carol.account_number.lower(), "kind": "correction",
                                                          "details": "New phone 0722000111"}).status_code == 302
    assert DataRequest.objects.get().source == "staff"


def test_owners_are_reminded_of_requests_falling_due_once_a_day(carol) -> None:  # type: ignore[no-untyped-def]
    with time_machine.travel(on("2026-11-20"), tick=False):
        DataRequest.objects.create(kind="deletion", client=carol, due_at=on("2026-11-27"))
        DataRequest.objects.create(kind="correction", client=carol, details="x", due_at=on("2026-12-20"))
    mail.outbox.clear()
    with committed():
        assert requests_remind(now=on("2026-11-22")) == 0  # five days left: not yet
        assert requests_remind(now=on("2026-11-25", 9)) == 1  # two days left: alice, the owner
        assert requests_remind(now=on("2026-11-25", 15)) == 0  # once a day
        assert requests_remind(now=on("2026-11-28", 9)) == 1  # overdue: again next morning
    sent = [m for m in mail.outbox if "privacy request" in m.subject]
    assert [m.to for m in sent] == [["alice@alpha.test"], ["alice@alpha.test"]]
    assert "1 overdue" in sent[1].body and "/dashboard/privacy/requests/" in sent[1].body


def test_the_owner_exports_everything_but_secrets(carol, neighbour, tenant) -> None:  # type: ignore[no-untyped-def]
    http = as_user("alice@alpha.test")
    assert as_user("amos@alpha.test").get("/dashboard/privacy/export/").status_code == 403
    with committed():
        assert http.post("/dashboard/privacy/export/").status_code == 302
    export = DataExport.objects.get(scope="provider")
    assert export.status == "ready" and export.client_id is None
    archive = _zip_of(http.get(f"/dashboard/privacy/export/{export.token}/download/"))
    clients = json.loads(archive.read("json/clients_client.json"))
    assert {c["full_name"] for c in clients} >= {"Carol Chebet", "Nelson Neighbour"}
    users = json.loads(archive.read("json/accounts_user.json"))
    assert users and all("password" not in u for u in users)
    assert "json/payments_payment.json" in archive.namelist() and "csv/billing_ledgerentry.csv" in archive.namelist()
    assert as_user("bob@beta.test", "beta").get(f"/dashboard/privacy/export/{export.token}/download/").status_code == 404
    with tenant_context(tenant):  # the request to beta left the connection on beta's schema
        assert AuditEvent.objects.filter(action="privacy.export_downloaded", actor="alice@alpha.test").exists()


def test_erasure_finds_what_names_the_person_and_spares_everyone_else(carol, neighbour) -> None:  # type: ignore[no-untyped-def]
    # Carol's contact email is Nelson's login: his history is his own and must stay.
    nelson = User.objects.create_user("carol.home@example.com", PASSWORD, full_name="Nelson", role="client")
    as_user("carol.home@example.com")  # a login: an audit row under that address
    as_user("carol@alpha.test")
    # A password reset to her (names no client), a validation callback and a duplicate
    # confirmation naming her account, an export she asked for.
    with committed():
        notify(event="account_message", channel="email", outgoing=[
            Outgoing("user:reset", "carol@alpha.test", {"text": "reset"})])
    validation = inbox_store(kind=CallbackInbox.Kind.C2B_VALIDATION, headers={}, source_ip="196.201.214.200", body=json.dumps(
        {"TransID": "SKC0000009", "BillRefNumber": f" {carol.account_number.lower()} ", "MSISDN": "2547****678",
         "FirstName": "CAROL"}).encode())
    duplicate = inbox_store(kind=CallbackInbox.Kind.C2B_CONFIRMATION, headers={}, source_ip="196.201.214.200",
                            body=json.dumps({"TransID": "SKC0000001", "BillRefNumber": "WRONG", "FirstName": "C"}).encode())
    theirs = inbox_store(kind=CallbackInbox.Kind.C2B_VALIDATION, headers={}, source_ip="196.201.214.200",
                         body=json.dumps({"TransID": "SKN0000009", "BillRefNumber": neighbour.account_number}).encode())
    export = _export(as_user("carol@alpha.test"))
    assert export.requested_by == "carol@alpha.test"

    with committed():
        from privacy.erasure import client_pseudonymise

        record = client_pseudonymise(client=carol, actor="alice@alpha.test")
    assert AuditEvent.objects.filter(actor="carol.home@example.com").exists()  # Nelson's rows untouched
    assert User.objects.filter(pk=nelson.pk).exists()
    assert not AuditEvent.objects.filter(actor="carol@alpha.test").exists()
    assert AuditEvent.objects.filter(actor=record.pseudonym).exists()
    assert not Message.objects.filter(dedup_key__contains="user:reset").exists()
    bodies = dict(CallbackInbox.objects.values_list("pk", "body"))
    assert bodies[validation.pk] == "" and bodies[duplicate.pk] == "" and bodies[theirs.pk] != ""
    export.refresh_from_db()
    assert (export.requested_by, export.path, export.status) == ("", "", "expired")


def test_withdrawing_analytics_in_the_privacy_centre_turns_the_cookie_off(carol) -> None:  # type: ignore[no-untyped-def]
    http = as_user("carol@alpha.test")
    http.cookies["cookie_consent"] = "analytics"
    response = http.post("/portal/privacy/", {"action": "consent", "sms": "on"})
    assert response.cookies["cookie_consent"].value == "essential"
    allowed = http.post("/portal/privacy/", {"action": "consent", "sms": "on", "analytics": "on"})
    assert allowed.cookies["cookie_consent"].value == "analytics"
    objected = http.post("/portal/privacy/", {"action": "objection", "purposes": ["analytics"]})
    assert objected.cookies["cookie_consent"].value == "essential"
    assert consent_map([carol.pk])[carol.pk]["analytics"] is False
