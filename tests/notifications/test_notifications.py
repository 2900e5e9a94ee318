"""Notifications through the Africa's Talking stand-in over real HTTP and Django's email backend:
bills, receipts and reminders sent; a failure retried with backoff; delivery reports; clients who
opted out; quiet hours; broadcasts to a zone; templates, settings, the log and who sees it."""

from __future__ import annotations

import re
import urllib.parse
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client as Http
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import AuditEvent, User
from billing.models import Invoice
from billing.runs import billing_run_finalize, billing_run_start
from clients.broadcasts import broadcast_create, broadcast_estimate, broadcast_progress
from clients.models import Category, Client, Zone
from notifications.models import (
    Consent,
    DeliveryReport,
    Message,
    MessageTemplate,
    NotificationSettings,
)
from notifications.services import MSG_NO_MARKETING, MSG_NO_SMS, consent_record, sweep
from notifications.text import fill, mask_recipient, sms_size
from payments.notices import invoice_notices, reminder_plan, reminders_send
from payments.services import payment_record
from tests.billing_helpers import NBO, D, metered, read, travel
from tests.conftest import host_of, login
from tests.notifications_helpers import AT_KEY, AT_USERNAME, committed, replay_report, sms_ready
from tests.payments_helpers import mpesa_ready

PHONE = "+254712345678"


def as_user(email: str) -> Http:
    http = Http(HTTP_HOST=host_of("alpha"))
    login(http, email)
    return http


@pytest.fixture
def billed(tenant, at):  # type: ignore[no-untyped-def]
    """Wanjiru, with a phone and an email, billed September (10 m³, 500.00) with SMS and M-Pesa set up."""
    sms_ready()
    mpesa_ready()
    client, meter = metered("Wanjiru Kamau")
    client.phone, client.email = PHONE, "wanjiru@example.com"
    client.save()
    read(meter, "0", "2026-08-31")
    read(meter, "10", "2026-09-30")
    return client


def finalize(period: str, day: str) -> list[Invoice]:
    with travel(day), committed():
        run = billing_run_finalize(run=billing_run_start(period=period)[0])
    return list(Invoice.objects.filter(run=run))


@contextmanager
def at_time(moment: datetime):  # type: ignore[no-untyped-def]
    """The clock stopped at `moment`, and what is queued after commit run there."""
    with time_machine.travel(moment, tick=False), committed():
        yield


# --- bills, receipts ----------------------------------------------------------------------------------
def test_a_finalised_run_texts_and_emails_every_client_its_bill(billed, at) -> None:  # type: ignore[no-untyped-def]
    [invoice] = finalize("2026-09", "2026-10-02")
    [sent] = at.wait_for_messages(1)
    assert sent["number"] == PHONE and sent["username"] == AT_USERNAME
    text = sent["message"]
    for part in ("Sep 2026", "KES 500.00", "16 Oct 2026", f"Paybill 174379 Acc {billed.account_number}", "/pay/"):
        assert part in text, (part, text)
    pay_path = re.search(r"https?://\S+(/pay/[^/\s]+/)", text).group(1)
    with travel("2026-10-03"):
        assert Http(HTTP_HOST=host_of("alpha")).get(pay_path).status_code == 200  # the link opens this account
    sms = Message.objects.get(channel="sms", event="invoice_issued")
    assert (sms.status, sms.client_id, sms.segments) == ("sent", billed.pk, sent["parts"])
    assert sms.provider_message_id == sent["messageId"] and sms.cost == D("0.8000") * sent["parts"]
    assert sms.dedup_key == f"invoice_issued:sms:invoice:{invoice.pk}"
    [email] = mail.outbox
    assert email.to == ["wanjiru@example.com"] and "KES 500.00" in email.subject and "Alpha Water" in email.from_email
    assert "KES 500.00" in email.body and "/pay/" in email.body
    [(filename, pdf, mimetype)] = email.attachments
    assert (filename, mimetype) == (f"{invoice.number}.pdf", "application/pdf") and pdf.startswith(b"%PDF")
    assert "text/html" in email.alternatives[0][1] and "Alpha Water" in email.alternatives[0][0]
    assert Message.objects.get(channel="email").status == "sent"


def test_notices_for_the_same_bill_are_made_once(billed, at) -> None:  # type: ignore[no-untyped-def]
    [invoice] = finalize("2026-09", "2026-10-02")
    at.wait_for_messages(1)
    with committed():
        assert invoice_notices([invoice.pk]) == 0  # a redelivered task
    assert Message.objects.filter(event="invoice_issued").count() == 2 and len(at.messages) == 1


def test_a_payment_sends_a_receipt_with_the_balance(billed, at) -> None:  # type: ignore[no-untyped-def]
    finalize("2026-09", "2026-10-02")
    at.wait_for_messages(1)
    with travel("2026-10-05"), committed():
        payment_record(method="cash", receipt="CASH-77", amount=D("200"), paid_at=timezone.now(), client=billed)
    [_, receipt] = at.wait_for_messages(2)
    assert "KES 200.00" in receipt["message"] and "CASH-77" in receipt["message"] and "KES 300.00" in receipt["message"]
    assert Message.objects.get(event="payment_received", channel="sms").status == "sent"


def test_a_burst_of_paybill_payments_sends_one_receipt_each(billed, at, alpha) -> None:  # type: ignore[no-untyped-def]
    import json

    from payments.batch import process_confirmations
    from payments.inbox import confirmation_store

    finalize("2026-09", "2026-10-02")
    for n in range(3):
        body = {"TransactionType": "Pay Bill", "TransID": f"TKB{n}X0AB12", "TransTime": "20261005101010",
                "TransAmount": "100.00", "BusinessShortCode": "174379", "BillRefNumber": billed.account_number,
                "MSISDN": "2547 ***** 678", "FirstName": "Wanjiru"}
        confirmation_store(body=json.dumps(body).encode(), headers={}, source_ip="196.201.214.200")
    with committed():
        assert process_confirmations() == 3
    at.wait_for_messages(4)
    assert Message.objects.filter(event="payment_received", channel="sms", status="sent").count() == 3


# --- failures and retries -----------------------------------------------------------------------------
def test_africas_talking_failing_is_retried_with_backoff(billed, at) -> None:  # type: ignore[no-untyped-def]
    at.queue_outcome(http_status=500)
    finalize("2026-09", "2026-10-02")
    sms = Message.objects.get(channel="sms")
    assert (sms.status, sms.attempts) == ("queued", 1) and "Attempt 1 failed" in sms.note
    assert timedelta(seconds=50) < sms.next_attempt_at - sms.updated <= timedelta(minutes=1)
    assert at.messages == []
    with at_time(sms.next_attempt_at - timedelta(seconds=1)):
        assert sweep() == 0  # not before its time
    at.queue_outcome(status_code=405)  # then the account runs dry: retried again, later
    with at_time(sms.next_attempt_at + timedelta(seconds=1)):
        sweep()
    sms.refresh_from_db()
    assert (sms.status, sms.attempts) == ("queued", 2) and "too little credit" in sms.note
    assert sms.next_attempt_at - sms.updated == timedelta(minutes=5)
    with at_time(sms.next_attempt_at + timedelta(seconds=1)):
        sweep()
    sms.refresh_from_db()
    assert (sms.status, sms.attempts) == ("sent", 3) and len(at.wait_for_messages(1)) == 1


def test_a_message_that_keeps_failing_is_given_up(billed, at) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        at.queue_outcome(http_status=502)
    finalize("2026-09", "2026-10-02")
    sms = Message.objects.get(channel="sms")
    for _ in range(4):
        with at_time(sms.next_attempt_at + timedelta(seconds=1)):
            sweep()
        sms.refresh_from_db()
    assert (sms.status, sms.attempts, sms.next_attempt_at) == ("failed", 5, None) and "Gave up after 5" in sms.note


def test_a_number_africas_talking_refuses_fails_at_once(tenant, at) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    at.blacklist.add(PHONE)
    client, _ = metered("Blocked Number")
    client.phone = PHONE
    client.save()
    with committed():
        from notifications.services import Outgoing, notify

        notify(event="account_message", channel="sms",
               outgoing=[Outgoing("x", PHONE, {"provider": "Alpha", "text": "Hello"}, client.pk)])
    msg = Message.objects.get()
    assert (msg.status, msg.attempts) == ("failed", 1) and "blocked messages" in msg.note


def test_an_email_that_cannot_be_sent_is_retried(billed, at, settings) -> None:  # type: ignore[no-untyped-def]
    from devkit.testing import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"  # nothing listens there
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    finalize("2026-09", "2026-10-02")
    email = Message.objects.get(channel="email")
    assert (email.status, email.attempts) == ("queued", 1) and "could not be sent" in email.note
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with at_time(email.next_attempt_at + timedelta(seconds=1)):
        sweep()
    email.refresh_from_db()
    assert email.status == "sent" and len(mail.outbox) == 1


# --- delivery reports ---------------------------------------------------------------------------------
def test_delivery_reports_update_the_log(billed, at, recorder, alpha) -> None:  # type: ignore[no-untyped-def]
    cfg = NotificationSettings.load()
    at.register_dlr_url(AT_USERNAME, f"http://{host_of('alpha')}:{recorder.port}/notifications/sms/delivery/"
                                     f"{cfg.delivery_token}/")
    finalize("2026-09", "2026-10-02")
    [report] = recorder.wait(1)
    assert replay_report(report).status_code == 200
    sms = Message.objects.get(channel="sms")
    assert (sms.status, sms.network_code) == ("delivered", "63902")  # Safaricom, from the number
    assert sms.delivered_at is not None
    stored = DeliveryReport.objects.get()
    assert stored.message == sms and stored.status == "Success"
    with connection.cursor() as cursor:  # the phone number in the report is not kept in clear
        cursor.execute("SELECT body FROM notifications_deliveryreport")
        assert cursor.fetchone()[0].startswith("enc1:")
    fields = dict(urllib.parse.parse_qsl(report.body.decode()))
    assert set(fields) == {"id", "status", "phoneNumber", "networkCode"}
    # Delivered twice, or a late failure after success: nothing changes.
    replay_report(report)
    failed = urllib.parse.urlencode({**fields, "status": "Failed", "failureReason": "DeliveryFailure"}).encode()
    replay_report(type(report)(report.path, report.host, failed))
    sms.refresh_from_db()
    assert sms.status == "delivered" and DeliveryReport.objects.count() == 3


def test_a_failed_delivery_says_why(billed, at, recorder) -> None:  # type: ignore[no-untyped-def]
    cfg = NotificationSettings.load()
    at.register_dlr_url(AT_USERNAME, f"http://{host_of('alpha')}:{recorder.port}/notifications/sms/delivery/"
                                     f"{cfg.delivery_token}/")
    at.queue_outcome(dlr_status="Failed", failure_reason="UserInBlackList")
    finalize("2026-09", "2026-10-02")
    replay_report(recorder.wait(1)[0])
    sms = Message.objects.get(channel="sms")
    assert sms.status == "failed" and "blocked messages" in sms.note


def test_a_delivery_report_with_a_wrong_token_is_refused_and_not_kept(tenant, alpha, beta) -> None:  # type: ignore[no-untyped-def]
    body = "id=ATXid_1&status=Success&phoneNumber=%2B254712345678&networkCode=63902"
    http = Http(HTTP_HOST=host_of("alpha"))
    assert http.post("/notifications/sms/delivery/not-the-token/", body,
                     content_type="application/x-www-form-urlencoded").status_code == 404
    token = NotificationSettings.load().delivery_token
    with tenant_context(beta):  # another provider's token means nothing here, and vice versa
        beta_token = NotificationSettings.load().delivery_token
    assert http.post(f"/notifications/sms/delivery/{beta_token}/", body,
                     content_type="application/x-www-form-urlencoded").status_code == 404
    assert Http(HTTP_HOST=host_of("beta")).post(f"/notifications/sms/delivery/{token}/", body,
                                                 content_type="application/x-www-form-urlencoded").status_code == 404
    assert DeliveryReport.objects.count() == 0
    assert http.post(f"/notifications/sms/delivery/{token}/", body,
                     content_type="application/x-www-form-urlencoded").status_code == 200
    assert DeliveryReport.objects.get().message is None  # an id we never sent: kept, matched to nothing


# --- consent, quiet hours -----------------------------------------------------------------------------
def test_a_client_who_objected_to_sms_gets_email_only(billed, at) -> None:  # type: ignore[no-untyped-def]
    consent_record(client_id=billed.pk, choices={"sms": False}, source="portal", actor="test")
    finalize("2026-09", "2026-10-02")
    sms = Message.objects.get(channel="sms")
    assert (sms.status, sms.note) == ("skipped", MSG_NO_SMS)
    assert at.messages == [] and len(mail.outbox) == 1


def test_the_portal_messages_page_records_the_clients_choices(billed) -> None:  # type: ignore[no-untyped-def]
    billed.user = User.objects.get(email="carol@alpha.test")
    billed.save()
    carol = as_user("carol@alpha.test")
    page = carol.get("/portal/messages/")
    assert page.status_code == 200 and b'name="sms" checked' in page.content and b'name="marketing" checked' not in page.content
    assert carol.post("/portal/messages/", {"email": "on", "marketing": "on"}).status_code == 302
    rows = {c.topic: c for c in Consent.objects.filter(client_id=billed.pk)}
    assert {t: c.granted for t, c in rows.items()} == {"sms": False, "marketing": True}
    assert rows["sms"].source == "portal" and rows["sms"].policy_version
    assert AuditEvent.objects.filter(action="notifications.consent_changed", actor="carol@alpha.test").exists()
    carol.post("/portal/messages/", {"sms": "on", "email": "on", "marketing": "on"})
    from notifications.services import consent_map

    # Analytics is not a message preference: the form leaves it at its default.
    assert consent_map([billed.pk])[billed.pk] == {"sms": True, "email": True, "marketing": True, "analytics": False}
    assert Consent.objects.filter(client_id=billed.pk).count() == 3  # history kept, appended


def test_sms_in_quiet_hours_wait_for_the_morning(billed, at) -> None:  # type: ignore[no-untyped-def]
    sms_ready(quiet_hours=True)  # 21:00 to 07:00, Nairobi
    mpesa_ready()
    read_at = datetime(2026, 10, 2, 22, 30, tzinfo=NBO)
    with time_machine.travel(read_at, tick=False), committed():
        billing_run_finalize(run=billing_run_start(period="2026-09")[0])
    sms = Message.objects.get(channel="sms")
    assert sms.status == "queued" and sms.next_attempt_at == datetime(2026, 10, 3, 7, 0, tzinfo=NBO)
    assert "quiet hours until 07:00" in sms.note and at.messages == []
    assert Message.objects.get(channel="email").status == "sent"  # email is not held
    with at_time(datetime(2026, 10, 3, 6, 59, tzinfo=NBO)):
        assert sweep() == 0
    with at_time(datetime(2026, 10, 3, 7, 1, tzinfo=NBO)):
        assert sweep() == 1
    sms.refresh_from_db()
    assert sms.status == "sent" and len(at.messages) == 1


def test_a_password_reset_goes_out_at_once_and_its_link_is_not_logged(tenant) -> None:  # type: ignore[no-untyped-def]
    NotificationSettings.objects.filter(pk=NotificationSettings.load().pk).update(quiet_hours=True)
    with time_machine.travel(datetime(2026, 11, 23, 23, 0, tzinfo=NBO), tick=False):
        Http(HTTP_HOST=host_of("alpha")).post("/accounts/password-reset/", {"email": "amos@alpha.test"})
    [email] = mail.outbox
    assert "/accounts/reset/" in email.body
    logged = Message.objects.get(event="password_reset")
    assert logged.status == "sent" and "/accounts/reset/" not in logged.text and "[removed from the log]" in logged.text


# --- broadcasts ---------------------------------------------------------------------------------------
def _zone_clients() -> tuple[list[Client], list[Client]]:
    north, south = Zone.objects.create(code="north", name="North"), Zone.objects.create(code="south", name="South")
    domestic = Category.objects.get(code="domestic")
    made = {}
    for zone, numbers in ((north, ["+254711000001", "+254711000002", "+254711000003"]), (south, ["+254722000004"])):
        made[zone.code] = [Client.objects.create(account_number=f"Z{n[-3:]}", full_name=f"Client {n[-1]}", phone=n,
                                                 category=domestic, zone=zone) for n in numbers]
    return made["north"], made["south"]


def test_a_broadcast_to_a_zone_reaches_that_zone_only(tenant, at) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    north, south = _zone_clients()
    consent_record(client_id=north[2].pk, choices={"sms": False}, source="staff", actor="test")
    data = {"title": "Mains repair", "purpose": "supply", "channels": ["sms"], "zones": ["north"],
            "sms_text": "{provider}: no water in North on Friday 9am-3pm (mains repair). Sorry."}
    estimate = broadcast_estimate(data)
    assert (estimate.clients, estimate.sms, estimate.sms_parts, estimate.sms_cost) == (3, 3, 1, D("2.40"))
    with committed():
        broadcast = broadcast_create(data=data, actor="amos@alpha.test")
    numbers = sorted(m["number"] for m in at.wait_for_messages(2))
    assert numbers == ["+254711000001", "+254711000002"]
    assert len([r for r in at.requests if r["path"] == "/version1/messaging"]) == 1  # one request, one text
    assert "Alpha Water: no water in North" in at.messages[0]["message"]
    broadcast.refresh_from_db()
    progress = broadcast_progress(broadcast)
    assert progress["state"] == "done" and progress["counts"] == {"sent": 2, "skipped": 1} and progress["percent"] == 100
    assert Message.objects.filter(client_id=south[0].pk).count() == 0
    with committed():  # the task delivered twice prepares nothing more
        from clients.broadcasts import broadcast_prepare

        broadcast_prepare(broadcast.pk)
    assert Message.objects.filter(broadcast=broadcast).count() == 3


def test_an_announcement_goes_only_to_clients_who_agreed(tenant, at) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    north, _ = _zone_clients()
    consent_record(client_id=north[0].pk, choices={"marketing": True}, source="portal", actor="test")
    with committed():
        broadcast_create(data={"title": "Offer", "purpose": "marketing", "channels": ["sms"],
                               "sms_text": "New: pay by card in the portal."}, actor="test")
    assert [m["number"] for m in at.wait_for_messages(1)] == [north[0].phone]
    assert Message.objects.filter(note=MSG_NO_MARKETING).count() == 3


def test_the_broadcast_pages(tenant, at) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    _zone_clients()
    amos = as_user("amos@alpha.test")
    bad = amos.post("/dashboard/messages/broadcasts/", {"title": "", "purpose": "supply", "channels": "sms",
                                                        "sms_text": "Hi {nmae}", "estimate": "1"})
    assert bad.status_code == 400 and b"Give the broadcast a title" in bad.content and b"remove {nmae}" in bad.content
    form = {"title": "Works", "purpose": "supply", "channels": "sms", "zones": "south", "sms_text": "Works on Friday."}
    shown = amos.post("/dashboard/messages/broadcasts/", {**form, "estimate": "1"})
    assert shown.status_code == 200 and b"1 client" in shown.content
    with committed():
        sent = amos.post("/dashboard/messages/broadcasts/", {**form, "send": "1"})
    assert sent.status_code == 302
    page = amos.get(sent["Location"])
    assert page.status_code == 200 and b"Done: 1 messages" in page.content
    status = amos.get(sent["Location"] + "status/").json()
    assert status["counts"] == {"sent": 1} and status["state"] == "done"
    assert as_user("anne@alpha.test").get("/dashboard/messages/broadcasts/").status_code == 403  # accountant
    assert AuditEvent.objects.filter(action="broadcast.created").exists()


# --- reminders ----------------------------------------------------------------------------------------
def test_reminders_follow_the_providers_schedule_once_each(billed, at) -> None:  # type: ignore[no-untyped-def]
    [invoice] = finalize("2026-09", "2026-10-02")  # due 16 Oct
    paid, paid_meter = metered("Paid Up")
    paid.phone = "+254733000000"
    paid.save()
    at.wait_for_messages(1)
    cfg = NotificationSettings.load()
    assert reminder_plan(cfg) == [("reminder_due", -3, 0), ("overdue", 1, 4), ("overdue", 7, 10),
                                  ("disconnection", 30, 33)]

    def run(day: str, hour: int = 9) -> dict:
        with time_machine.travel(datetime.fromisoformat(day).replace(hour=hour, tzinfo=NBO), tick=False), committed():
            return reminders_send()

    assert run("2026-10-13", hour=8) == {}  # before the provider's reminder hour
    assert run("2026-10-13") == {"reminder_due": 2}  # SMS and email
    assert run("2026-10-14") == {"reminder_due": 0}  # the same reminder day: once
    assert run("2026-10-17") == {"overdue": 2}
    assert run("2026-10-22") == {}  # between reminder days
    assert run("2026-10-24") == {"overdue": 2}  # a day late (the job did not run on the 23rd): caught up
    sms = [m["message"] for m in at.wait_for_messages(4)]
    assert "reminder" in sms[1] and "due 16 Oct 2026" in sms[1] and "KES 500.00" in sms[1]
    assert "OVERDUE, KES 500.00 was due 16 Oct 2026" in sms[2]
    with travel("2026-11-01"), committed():
        payment_record(method="cash", receipt="C-PAID", amount=D("500"), paid_at=timezone.now(), client=billed)
    assert run("2026-11-15") == {}  # paid: no disconnection notice
    keys = set(Message.objects.filter(event__in=["reminder_due", "overdue"], channel="sms").values_list("dedup_key", flat=True))
    assert keys == {f"reminder_due:sms:invoice:{invoice.pk}:-3", f"overdue:sms:invoice:{invoice.pk}:1",
                    f"overdue:sms:invoice:{invoice.pk}:7"}


def test_a_disconnection_notice_for_a_long_unpaid_bill(billed, at) -> None:  # type: ignore[no-untyped-def]
    finalize("2026-09", "2026-10-02")
    with time_machine.travel(datetime(2026, 11, 15, 10, tzinfo=NBO), tick=False), committed():
        assert reminders_send() == {"disconnection": 2}
    assert "disconnection" in at.wait_for_messages(2)[1]["message"]


# --- templates, text ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("a" * 160, ("GSM-7", 160, 1)), ("a" * 161, ("GSM-7", 161, 2)), ("a" * 306, ("GSM-7", 306, 2)),
    ("a" * 307, ("GSM-7", 307, 3)), ("€" * 80, ("GSM-7", 160, 1)), ("[" * 81, ("GSM-7", 162, 2)),
    ("ç" * 70, ("UCS-2", 70, 1)), ("ç" * 71, ("UCS-2", 71, 2)), ("💧" * 35, ("UCS-2", 70, 1)),
    ("Maji ñ Ä é £", ("GSM-7", 12, 1)), ("", ("GSM-7", 0, 0)),
])
def test_sms_parts_are_counted_as_the_networks_do(text, expected) -> None:  # type: ignore[no-untyped-def]
    size = sms_size(text)
    assert (size.encoding, size.characters, size.segments) == expected


def test_placeholders_fill_only_what_is_known() -> None:
    assert fill("{name} owes {amount} {unknown} {name.__class__}", {"name": "Ann", "amount": "KES 1.00"}) == \
        "Ann owes KES 1.00 {unknown} {name.__class__}"
    assert mask_recipient("+254712345678") == "+2547•••678" and mask_recipient("ann@example.com") == "a•••@example.com"


def test_a_provider_rewords_a_template_with_preview_and_cost(billed, at) -> None:  # type: ignore[no-untyped-def]
    amos = as_user("amos@alpha.test")
    url = "/dashboard/messages/templates/invoice_issued/sms/"
    page = amos.get(url)
    assert page.status_code == 200 and b"part" in page.content and b"{pay_link}" in page.content
    bad = amos.post(url, {"body": "Hi {nmae}, pay {amount_due}", "save": "1"})
    assert bad.status_code == 400 and b"Unknown placeholder {nmae}" in bad.content
    shown = amos.post(url, {"body": "Habari {name}! Bill {amount_due} due {due_date}. {pay_link}", "preview": "1"})
    assert b"Habari Esther Njeri! Bill KES 2,448.75 due 16 Nov 2026." in shown.content
    assert not MessageTemplate.objects.exists()
    assert amos.post(url, {"body": "Habari {name}! Bill {amount_due} due {due_date}. {pay_link}", "save": "1"}).status_code == 302
    finalize("2026-09", "2026-10-02")
    [sent] = at.wait_for_messages(1)
    assert sent["message"].startswith("Habari Wanjiru Kamau! Bill KES 500.00 due 16 Oct 2026. http")
    listing = amos.get("/dashboard/messages/templates/")
    assert b"Your wording" in listing.content and b"Habari Esther Njeri" in listing.content
    amos.post(url, {"reset": "1"})
    assert not MessageTemplate.objects.exists()
    assert AuditEvent.objects.filter(action__in=["notifications.template_changed", "notifications.template_reset"]).count() == 2
    assert as_user("anne@alpha.test").get(url).status_code == 403  # accountants read templates, don't write them


def test_the_default_bill_sms_fits_in_one_part_with_sample_values() -> None:
    from notifications.catalog import EVENTS, SAMPLE

    for event in ("invoice_issued", "payment_received", "reminder_due", "overdue", "disconnection"):
        assert sms_size(fill(EVENTS[event].sms, SAMPLE)).segments == 1, event


# --- settings, log, access ----------------------------------------------------------------------------
def test_sms_settings_are_saved_encrypted_and_tested(tenant, at) -> None:  # type: ignore[no-untyped-def]
    alice = as_user("alice@alpha.test")
    form = {"sms_enabled": "on", "at_environment": "sandbox", "at_username": AT_USERNAME, "at_api_key": AT_KEY,
            "at_sender_id": "", "sms_cost_per_segment": "0.80", "email_enabled": "on", "quiet_hours": "on",
            "quiet_start": "21:00", "quiet_end": "07:00", "reminder_days_before": "7, 3",
            "reminder_days_after": "1,7", "disconnection_notice_days": "30", "reminder_hour": "9"}
    bad = alice.post("/dashboard/messages/settings/", {**form, "reminder_days_before": "soon", "at_sender_id": "TOO LONG NAME!"})
    assert bad.status_code == 400 and b"List whole days" in bad.content and b"up to 11 letters" in bad.content
    assert alice.post("/dashboard/messages/settings/", form).status_code == 302
    cfg = NotificationSettings.load()
    assert (cfg.at_api_key, cfg.reminder_days_before) == (AT_KEY, [3, 7])
    with connection.cursor() as cursor:
        cursor.execute("SELECT at_api_key FROM notifications_notificationsettings")
        assert cursor.fetchone()[0].startswith("enc1:")
    page = alice.get("/dashboard/messages/settings/").content.decode()
    assert AT_KEY not in page and f"•••• {AT_KEY[-4:]}" in page and cfg.delivery_token in page
    audit = AuditEvent.objects.get(action="notifications.settings_changed")
    assert "at_api_key" in audit.extra_data["fields"] and AT_KEY not in str(audit.extra_data)
    tested = alice.post("/dashboard/messages/settings/test/", {"channel": "sms", "recipient": "0712 345 678"})
    assert tested.status_code == 200 and b"Test SMS: Sent" in tested.content
    assert at.wait_for_messages(1)[0]["number"] == PHONE
    wrong = alice.post("/dashboard/messages/settings/test/", {"channel": "sms", "recipient": "12"})
    assert wrong.status_code == 400
    assert as_user("amos@alpha.test").get("/dashboard/messages/settings/").status_code == 403  # owner only


def test_the_message_log_filters_and_shows_no_full_numbers(billed, at) -> None:  # type: ignore[no-untyped-def]
    finalize("2026-09", "2026-10-02")
    at.wait_for_messages(1)
    anne = as_user("anne@alpha.test")
    page = anne.get("/dashboard/messages/").content.decode()
    assert "+2547•••678" in page and PHONE not in page and "w•••@example.com" in page
    by_phone = anne.get("/dashboard/messages/", {"q": "0712 345 678"}).content.decode()
    assert "+2547•••678" in by_phone and "w•••@example.com" not in by_phone
    only_email = anne.get("/dashboard/messages/", {"channel": "email"}).content.decode()
    assert "+2547•••678" not in only_email
    sms = Message.objects.get(channel="sms")
    detail = anne.get(f"/dashboard/messages/{sms.pk}/").content.decode()
    assert "KES 500.00" in detail and PHONE not in detail


def test_the_message_log_runs_a_fixed_number_of_queries(billed, at, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    from notifications.services import Outgoing, notify

    anne = as_user("anne@alpha.test")
    anne.get("/dashboard/messages/")
    with committed():
        notify(event="account_message", channel="sms", outgoing=[
            Outgoing(str(n), f"+2547120000{n:02d}", {"text": "x"}) for n in range(30)])
    with django_assert_max_num_queries(14):
        assert anne.get("/dashboard/messages/").status_code == 200


def test_no_provider_sees_anothers_messages(billed, at, beta) -> None:  # type: ignore[no-untyped-def]
    finalize("2026-09", "2026-10-02")
    at.wait_for_messages(1)
    sms = Message.objects.get(channel="sms")
    with committed():
        broadcast = broadcast_create(data={"title": "T", "purpose": "supply", "channels": ["sms"],
                                           "sms_text": "Hello"}, actor="test")
    bob = Http(HTTP_HOST=host_of("beta"))
    login(bob, "bob@beta.test")
    for path in (f"/dashboard/messages/{sms.pk}/", f"/dashboard/messages/broadcasts/{broadcast.pk}/",
                 f"/dashboard/messages/broadcasts/{broadcast.pk}/status/"):
        assert bob.get(path).status_code == 404, path
    assert "Wanjiru" not in bob.get("/dashboard/messages/").content.decode()
    assert "+2547•••678" not in bob.get("/dashboard/messages/").content.decode()
    assert as_user("ari@alpha.test").get("/dashboard/messages/").status_code == 403  # meter reader
    assert as_user("carol@alpha.test").get("/dashboard/messages/").status_code == 403  # a client


def test_recipients_are_encrypted_at_rest(billed, at) -> None:  # type: ignore[no-untyped-def]
    finalize("2026-09", "2026-10-02")
    with connection.cursor() as cursor:
        cursor.execute("SELECT recipient FROM notifications_message")
        assert all(row[0].startswith("enc1:") for row in cursor.fetchall())


def test_staff_message_a_client_and_record_their_choices(billed, at) -> None:  # type: ignore[no-untyped-def]
    amos = as_user("amos@alpha.test")
    with committed():
        assert amos.post(f"/dashboard/clients/{billed.pk}/message/", {"channel": "sms", "text": "Meter visit Tuesday."}).status_code == 302
    assert at.wait_for_messages(1)[0]["message"] == "Alpha Water: Meter visit Tuesday."
    amos.post(f"/dashboard/clients/{billed.pk}/preferences/", {"email": "on"})
    assert Consent.objects.get(client_id=billed.pk, topic="sms").source == "staff"
    page = amos.get(f"/dashboard/clients/{billed.pk}/").content.decode()
    assert "Meter visit Tuesday." in page
    reader = as_user("ari@alpha.test")
    assert reader.post(f"/dashboard/clients/{billed.pk}/message/", {"channel": "sms", "text": "x"}).status_code == 403


def test_a_message_by_email_greets_the_client_by_name(billed, at) -> None:  # type: ignore[no-untyped-def]
    amos = as_user("amos@alpha.test")
    with committed():
        assert amos.post(f"/dashboard/clients/{billed.pk}/message/",
                         {"channel": "email", "text": "Meter visit Tuesday."}).status_code == 302
    [email] = [m for m in mail.outbox if "Meter visit Tuesday." in m.body]
    assert f"Dear {billed.full_name}," in email.body and "Alpha Water" in email.body


def test_the_api_lists_messages_of_its_own_provider_only(billed, at, alpha_api, beta_api) -> None:  # type: ignore[no-untyped-def]
    finalize("2026-09", "2026-10-02")
    at.wait_for_messages(1)
    listed = alpha_api.get("/api/v1/messages/", {"channel": "sms"}).json()
    assert listed["count"] == 1
    [row] = listed["results"]
    assert (row["event"], row["client"], row["recipient"], row["status"]) == ("invoice_issued", billed.pk, "+2547•••678", "sent")
    assert row["cost"] == "0.8000" or Decimal(row["cost"]) > 0
    assert beta_api.get("/api/v1/messages/").json()["count"] == 0
    assert alpha_api.get("/api/v1/messages/", {"client": billed.pk + 1000}).json()["count"] == 0


def test_messages_whose_task_was_lost_or_whose_worker_died_are_sent_later(tenant, at) -> None:  # type: ignore[no-untyped-def]
    from notifications.services import Outgoing, notify

    sms_ready()
    start = timezone.now()
    notify(event="account_message", channel="sms", outgoing=[Outgoing("lost", PHONE, {"text": "one"})])  # never queued
    notify(event="account_message", channel="sms", outgoing=[Outgoing("dead", "+254712000111", {"text": "two"})])
    Message.objects.filter(dedup_key__endswith=":dead").update(status="sending")  # a worker took it, then died
    with at_time(start + timedelta(minutes=5)):
        assert sweep() == 0  # the first may still be on its way; the second may still be sending
    with at_time(start + timedelta(minutes=11)):
        assert sweep() == 1  # the lost one
    with at_time(start + timedelta(minutes=16)):
        assert sweep() == 1  # the dead worker's
    assert sorted(m["message"] for m in at.wait_for_messages(2)) == ["Alpha Water: one", "Alpha Water: two"]
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    with at_time(start + timedelta(minutes=30)):
        assert sweep() == 0


def test_a_bill_email_waits_for_its_pdf_then_goes_with_it(billed, at) -> None:  # type: ignore[no-untyped-def]
    from django.core.files.storage import default_storage

    from billing.documents import invoice_pdf_path, invoices_render

    [invoice] = finalize("2026-09", "2026-10-02")
    Message.objects.all().delete()
    mail.outbox.clear()
    default_storage.delete(invoice_pdf_path(invoice))  # as if its batch were still being rendered
    start = timezone.now()
    with at_time(start):
        invoice_notices([invoice.pk])
    email = Message.objects.get(channel="email")
    assert (email.status, email.attempts, email.note) == ("queued", 0, "Waiting for its attachment to be made.")
    assert mail.outbox == []
    invoices_render([invoice.pk])
    with at_time(start + timedelta(minutes=6)):
        assert sweep() == 1
    email.refresh_from_db()
    assert email.status == "sent" and mail.outbox[0].attachments[0][0] == f"{invoice.number}.pdf"


def test_a_bill_email_that_waited_too_long_makes_its_own_pdf(billed, at) -> None:  # type: ignore[no-untyped-def]
    from django.core.files.storage import default_storage

    from billing.documents import invoice_pdf_path

    [invoice] = finalize("2026-09", "2026-10-02")
    Message.objects.all().delete()
    mail.outbox.clear()
    default_storage.delete(invoice_pdf_path(invoice))
    start = timezone.now()
    with at_time(start):
        invoice_notices([invoice.pk])
    with at_time(start + timedelta(hours=3, minutes=1)):
        sweep()
    assert Message.objects.get(channel="email").status == "sent" and default_storage.exists(invoice_pdf_path(invoice))
