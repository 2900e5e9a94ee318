"""Payments we ask for: STK pushes against the Daraja stand-in over real HTTP (success, each
failure code, duplicates, lost callbacks answered by the STK query, limits), Paystack (checkout,
signed webhook, verify), pay links, reversal and invoice states, provider settings (encrypted,
never shown back), C2B registration, the address screen and unknown accounts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client as Http
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import AuditEvent, User
from billing.models import Invoice, LedgerEntry
from billing.selectors import client_balance, invoices_with_dues
from clients.models import Client
from majismart.links import b36
from payments.callbacks import inbox_process
from payments.collect import pay_link_token
from payments.inbox import inbox_store
from payments.models import CallbackInbox, Payment, PaymentRequest, PaymentSettings
from payments.mpesa import stk_query_stale
from payments.services import payment_record
from tests.billing_helpers import D, billed_twice, metered, travel
from tests.conftest import host_of, login
from tests.payments_helpers import (
    PAYSTACK_SECRET,
    charge_success,
    deliver,
    mpesa_ready,
    paystack_sign,
    settle,
    stk_bodies,
)

PHONE = "0712 345 678"


@pytest.fixture
def carol_account(tenant):  # type: ignore[no-untyped-def]
    """Carol's water account with two issued invoices: September 500.00, October 940.00."""
    client = billed_twice("Carol Chebet")
    client.user = User.objects.get(email="carol@alpha.test")
    client.phone = "+254712345678"
    client.save()
    mpesa_ready()
    return client


def as_user(email: str) -> Http:
    http = Http(HTTP_HOST=host_of("alpha"))
    login(http, email)
    return http


def callback_url(tenant) -> str:  # type: ignore[no-untyped-def]
    return f"/payments/stk/callback/{tenant.callback_token}/"


# --- STK push ---------------------------------------------------------------------------------------
def test_a_client_pays_by_stk_and_the_balance_follows(carol_account, daraja, recorder, tenant) -> None:  # type: ignore[no-untyped-def]
    carol = as_user("carol@alpha.test")
    page = carol.get("/portal/pay/")
    assert page.status_code == 200 and b'value="1440"' in page.content  # the balance is offered
    response = carol.post("/portal/pay/", {"method": "mpesa", "phone": PHONE, "amount": "700"})
    assert response.status_code == 302
    request = PaymentRequest.objects.get()
    assert response["Location"] == f"/portal/pay/{request.pk}/"
    assert (request.status, request.amount, request.reference.startswith("ws_CO_")) == ("pending", D("700"), True)
    sent = stk_bodies(daraja)[0]
    assert (sent["Amount"], sent["PhoneNumber"], sent["PartyA"], sent["AccountReference"]) == (
        "700", "254712345678", "254712345678", carol_account.account_number)
    assert sent["CallBackURL"].endswith(callback_url(tenant)) and "mpesa" not in sent["CallBackURL"]
    assert carol.get(f"/portal/pay/{request.pk}/status/").json()["status"] == "pending"

    delivered = recorder.wait(1)[0]
    answer = recorder.replay(Http(), delivered)
    assert answer.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    request.refresh_from_db()
    receipt = json.loads(delivered.body)["Body"]["stkCallback"]["CallbackMetadata"]["Item"][1]["Value"]
    assert (request.status, request.payment.receipt, request.payment.client_id) == ("paid", receipt, carol_account.pk)
    assert request.payment.payer == "2547****678"  # the phone is not kept in clear on the payment
    status = carol.get(f"/portal/pay/{request.pk}/status/").json()
    assert status == {"status": "paid", "finished": True, "message": f"Paid. M-Pesa receipt {receipt}. Thank you!",
                      "amount": "700.00", "receipt": receipt, "balance": "740.00"}
    assert [a.amount for a in request.payment.allocations.order_by("invoice__period")] == [D("500.00"), D("200.00")]
    # Delivered again: nothing changes.
    assert recorder.replay(Http(), delivered).status_code == 200
    assert Payment.objects.count() == 1 and client_balance(carol_account.pk) == D("740.00")
    assert CallbackInbox.objects.filter(kind="stk_callback").values_list("status", flat=True).order_by("id")[1] == "duplicate"
    # The portal shows it in the history, with a receipt.
    assert receipt.encode() in carol.get("/portal/payments/").content
    assert b"KES 700.00" in carol.get(f"/portal/payments/{request.payment.pk}/").content


@pytest.mark.parametrize(("code", "words"), [
    (1, "balance is not enough"), (1032, "You cancelled"), (1037, "could not be reached"),
    (2001, "PIN was wrong"), (1019, "expired"), (17, "wait two minutes")])
def test_each_failure_is_told_in_plain_words(carol_account, daraja, recorder, code, words) -> None:  # type: ignore[no-untyped-def]
    daraja.queue_stk_outcome(code)
    carol = as_user("carol@alpha.test")
    carol.post("/portal/pay/", {"method": "mpesa", "phone": PHONE, "amount": "100"})
    delivered = recorder.wait(1)[0]
    assert "CallbackMetadata" not in json.loads(delivered.body)["Body"]["stkCallback"]
    recorder.replay(Http(), delivered)
    request = PaymentRequest.objects.get()
    assert (request.status, request.result_code) == ("failed", str(code)) and words in request.message
    assert carol.get(f"/portal/pay/{request.pk}/status/").json()["finished"] is True
    assert not Payment.objects.exists() and client_balance(carol_account.pk) == D("1440.00")


def test_duplicate_deliveries_from_daraja_make_one_payment(carol_account, daraja, recorder) -> None:  # type: ignore[no-untyped-def]
    daraja.queue_stk_outcome(0, duplicates=3)
    as_user("carol@alpha.test").post("/portal/pay/", {"method": "mpesa", "phone": PHONE, "amount": "1440"})
    for delivered in recorder.wait(3):
        recorder.replay(Http(), delivered)
    assert Payment.objects.count() == 1 and client_balance(carol_account.pk) == D("0.00")
    states = {i.pk: i.state for i in invoices_with_dues(Invoice.objects.filter(client=carol_account))}
    assert set(states.values()) == {"paid"}


def test_a_lost_callback_is_answered_by_the_stk_query(carol_account, daraja, recorder) -> None:  # type: ignore[no-untyped-def]
    daraja.queue_stk_outcome(0, send_callback=False, delay=0.05)
    daraja.queue_stk_outcome(1032, send_callback=False, delay=0.05)
    daraja.queue_stk_outcome(0, delay=60)  # the payer has not acted yet
    carol = as_user("carol@alpha.test")
    for phone in ("0712345678", "0722000111", "0733000222"):
        assert carol.post("/portal/pay/", {"method": "mpesa", "phone": phone, "amount": "200"}).status_code == 302
    settle(0.3)
    assert stk_query_stale() == 0  # too young to ask about
    assert stk_query_stale(now=timezone.now() + timedelta(minutes=3)) == 3
    confirmed, failed, waiting = PaymentRequest.objects.order_by("id")
    assert (confirmed.status, confirmed.message.startswith("M-Pesa confirmed")) == ("confirmed", True)
    assert (failed.status, failed.message) == ("failed", "You cancelled the payment on your phone.")
    assert (waiting.status, waiting.queried_at is not None) == ("pending", True)
    assert not Payment.objects.exists()  # no payment without M-Pesa's receipt: it comes by C2B or statement
    from tests.payments.test_payments import confirmation

    c2b = inbox_store(kind="c2b_confirmation", body=json.dumps(
        confirmation(carol_account.account_number, "200.00", "QRY0000001", TransTime=timezone.localtime().strftime(
            "%Y%m%d%H%M%S"))).encode(), headers={}, source_ip=None)
    assert inbox_process(c2b.pk) == "processed"
    confirmed.refresh_from_db()
    assert (confirmed.status, confirmed.payment.receipt) == ("paid", "QRY0000001")
    waiting.refresh_from_db()
    assert waiting.status == "pending" and waiting.payment_id is None
    assert stk_query_stale(now=timezone.now() + timedelta(minutes=3, seconds=30)) == 0  # asked a minute ago
    # A day without an answer closes the request.
    stk_query_stale(now=timezone.now() + timedelta(days=1, minutes=5))
    waiting.refresh_from_db()
    assert waiting.status == "failed" and "did not answer" in waiting.message


def test_the_oauth_token_is_cached_until_it_expires(carol_account, daraja, recorder) -> None:  # type: ignore[no-untyped-def]
    carol = as_user("carol@alpha.test")
    carol.post("/portal/pay/", {"method": "mpesa", "phone": "0712345678", "amount": "100"})
    carol.post("/portal/pay/", {"method": "mpesa", "phone": "0722345678", "amount": "100"})
    assert daraja.tokens_issued == 1 and len(stk_bodies(daraja)) == 2
    daraja.expire_tokens()  # Daraja says 404.001.03: a new token, and the push goes through
    carol.post("/portal/pay/", {"method": "mpesa", "phone": "0733345678", "amount": "100"})
    assert daraja.tokens_issued == 2 and PaymentRequest.objects.filter(status="pending").count() == 3


def test_pushes_are_limited_per_phone_and_per_client(carol_account, daraja, recorder, settings) -> None:  # type: ignore[no-untyped-def]
    settings.STK_PUSHES_PER_HOUR = 2
    carol = as_user("carol@alpha.test")
    assert carol.post("/portal/pay/", {"method": "mpesa", "phone": PHONE, "amount": "100"}).status_code == 302
    again = carol.post("/portal/pay/", {"method": "mpesa", "phone": PHONE, "amount": "100"})
    assert again.status_code == 400 and b"send another in about a minute" in again.content
    assert carol.post("/portal/pay/", {"method": "mpesa", "phone": "0722000111", "amount": "100"}).status_code == 302
    third = carol.post("/portal/pay/", {"method": "mpesa", "phone": "0733000222", "amount": "100"})
    assert third.status_code == 400 and b"Too many payment requests" in third.content
    assert len(stk_bodies(daraja)) == 2


def test_bad_input_is_a_form_with_errors(carol_account, daraja) -> None:  # type: ignore[no-untyped-def]
    carol = as_user("carol@alpha.test")
    response = carol.post("/portal/pay/", {"method": "mpesa", "phone": "12", "amount": "10.50"})
    assert response.status_code == 400
    assert b"Enter the M-Pesa phone number" in response.content and b"whole number of shillings" in response.content
    assert not PaymentRequest.objects.exists() and stk_bodies(daraja) == []


def test_daraja_refusing_a_push_is_shown(carol_account, daraja) -> None:  # type: ignore[no-untyped-def]
    mpesa_ready(mpesa_passkey="not-the-passkey")  # Daraja: 500.001.1001 Wrong credentials
    carol = as_user("carol@alpha.test")
    response = carol.post("/portal/pay/", {"method": "mpesa", "phone": PHONE, "amount": "100"}, follow=True)
    request = PaymentRequest.objects.get()
    assert (request.status, request.result_code, request.result_desc) == ("failed", "500.001.1001", "Wrong credentials")
    assert b"could not send the payment request" in response.content


def test_an_stk_result_for_an_unknown_request(carol_account, tenant) -> None:  # type: ignore[no-untyped-def]
    body = {"Body": {"stkCallback": {"MerchantRequestID": "1", "CheckoutRequestID": "ws_CO_unknown", "ResultCode": 0,
                                     "ResultDesc": "ok", "CallbackMetadata": {"Item": [
                                         {"Name": "Amount", "Value": 50}, {"Name": "MpesaReceiptNumber", "Value": "UNK0000001"},
                                         {"Name": "Balance"}, {"Name": "TransactionDate", "Value": 20261123101500},
                                         {"Name": "PhoneNumber", "Value": 254712000111}]}}}}
    inbox = inbox_store(kind="stk_callback", body=json.dumps(body).encode(), headers={}, source_ip=None)
    assert inbox_process(inbox.pk) == "waiting"  # its request may not be committed yet
    CallbackInbox.objects.filter(pk=inbox.pk).update(received=timezone.now() - timedelta(minutes=11))
    assert inbox_process(inbox.pk) == "processed"
    payment = Payment.objects.get(receipt="UNK0000001")
    assert (payment.status, payment.client_id, payment.amount) == ("unmatched", None, D("50.00"))


def test_a_malformed_stk_callback_is_stored_answered_and_flagged(tenant, alpha) -> None:  # type: ignore[no-untyped-def]
    http = Http(HTTP_HOST=host_of("alpha"))
    for body in (b"{not json", json.dumps({"Body": {}}).encode()):
        response = deliver(http, callback_url(alpha), body)
        assert response.status_code == 200 and response.json()["ResultCode"] == 0
    assert list(CallbackInbox.objects.values_list("status", flat=True)) == ["invalid", "invalid"]
    assert http.post("/payments/mpesa/stk/callback/wrong/", data=b"{}", content_type="application/json").status_code == 404
    assert CallbackInbox.objects.count() == 2


# --- Paystack -----------------------------------------------------------------------------------------
def test_card_payment_by_paystack_with_a_signed_webhook(carol_account, paystack, tenant) -> None:  # type: ignore[no-untyped-def]
    carol = as_user("carol@alpha.test")
    response = carol.post("/portal/pay/", {"method": "card", "email": "carol@example.com", "amount": "940"})
    assert response.status_code == 302 and response["Location"].startswith("https://checkout.paystack.com/")
    sent = paystack.initialized[0]
    assert (sent["amount"], sent["currency"], sent["email"]) == (94000, "KES", "carol@example.com")
    assert sent["callback_url"].endswith("/portal/pay/card/return/")
    reference = sent["reference"]
    body = json.dumps(charge_success(reference, 94000)).encode()
    http = Http(HTTP_HOST=host_of("alpha"))
    bad = http.post("/payments/paystack/webhook/", data=body, content_type="application/json",
                    HTTP_X_PAYSTACK_SIGNATURE=paystack_sign(body, "sk_test_someone_else"))
    assert bad.status_code == 401 and not CallbackInbox.objects.exists()
    unsigned = http.post("/payments/paystack/webhook/", data=body, content_type="application/json")
    assert unsigned.status_code == 401 and not CallbackInbox.objects.exists()
    for _ in range(2):  # Paystack retries: one payment
        good = deliver(http, "/payments/paystack/webhook/", body, HTTP_X_PAYSTACK_SIGNATURE=paystack_sign(body))
        assert good.status_code == 200
    payment = Payment.objects.get()
    assert (payment.method, payment.receipt, payment.amount, payment.client_id) == (
        "paystack", reference, D("940.00"), carol_account.pk)
    assert PaymentRequest.objects.get(reference=reference).status == "paid"
    assert client_balance(carol_account.pk) == D("500.00")


def test_coming_back_from_paystack_verifies_the_charge(carol_account, paystack, tenant) -> None:  # type: ignore[no-untyped-def]
    carol = as_user("carol@alpha.test")
    carol.post("/portal/pay/", {"method": "card", "email": "carol@example.com", "amount": "500"})
    reference = paystack.initialized[0]["reference"]
    paystack.verify_answers[reference] = charge_success(reference, 50000)["data"]
    back = carol.get(f"/portal/pay/card/return/?trxref={reference}&reference={reference}")
    request = PaymentRequest.objects.get()
    assert back["Location"] == f"/portal/pay/{request.pk}/"
    assert request.status == "paid" and request.payment.amount == D("500.00")
    # The webhook arriving afterwards changes nothing.
    body = json.dumps(charge_success(reference, 50000)).encode()
    deliver(Http(HTTP_HOST=host_of("alpha")), "/payments/paystack/webhook/", body,
            HTTP_X_PAYSTACK_SIGNATURE=paystack_sign(body))
    assert Payment.objects.count() == 1


def test_a_paystack_event_in_another_currency_is_not_money_for_us(carol_account, tenant) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps(charge_success("MJS-foreign", 100000, currency="NGN")).encode()
    response = deliver(Http(HTTP_HOST=host_of("alpha")), "/payments/paystack/webhook/", body,
                       HTTP_X_PAYSTACK_SIGNATURE=paystack_sign(body))
    assert response.status_code == 200
    assert CallbackInbox.objects.get().status == "invalid" and not Payment.objects.exists()


# --- pay links --------------------------------------------------------------------------------------
def test_a_pay_link_opens_one_account_without_logging_in(carol_account, daraja, recorder) -> None:  # type: ignore[no-untyped-def]
    token = pay_link_token(carol_account)
    http = Http(HTTP_HOST=host_of("alpha"))
    page = http.get(f"/pay/{token}/")
    assert page.status_code == 200 and page["Referrer-Policy"] == "same-origin"
    html = page.content.decode()
    assert carol_account.account_number in html and "KES 1,440.00" in html
    assert "Carol" not in html and "254712345678" not in html and "345678" not in html  # nothing else personal
    response = http.post(f"/pay/{token}/", {"phone": PHONE, "amount": "1440"})
    request = PaymentRequest.objects.get()
    assert response["Location"] == f"/pay/{token}/{request.pk}/" and request.source == "pay_link"
    recorder.replay(Http(), recorder.wait(1)[0])
    status = http.get(f"/pay/{token}/{request.pk}/status/").json()
    assert (status["status"], status["balance"]) == ("paid", "0.00")


def test_a_pay_link_cannot_be_forged_reused_or_kept_forever(carol_account, alpha) -> None:  # type: ignore[no-untyped-def]
    other, _ = metered("Someone Else")
    request = PaymentRequest.objects.create(channel="stk", reference="ws_CO_other", client=other, amount=D("5"),
                                            source="pay_link")
    token = pay_link_token(carol_account)
    http = Http(HTTP_HOST=host_of("alpha"))
    assert http.get(f"/pay/{token}/").status_code == 200
    _, _, rest = token.partition("-")
    assert http.get(f"/pay/{b36(other.pk)}-{rest}/").status_code == 404  # another account, same signature
    assert len(token) <= 30  # it travels in every bill SMS
    assert http.get(f"/pay/{token[:-2]}xx/").status_code == 404
    assert http.get(f"/pay/{token}/{request.pk}/status/").status_code == 404  # another account's request
    with travel(str(timezone.localdate() + timedelta(days=46))):
        assert http.get(f"/pay/{token}/").status_code == 404
    assert Http(HTTP_HOST=host_of("beta")).get(f"/pay/{token}/").status_code == 404  # another provider


# --- reversal and invoice states -------------------------------------------------------------------
def test_partial_payment_then_reversal(carol_account, tenant) -> None:  # type: ignore[no-untyped-def]
    def states() -> list[str]:
        return [i.state for i in invoices_with_dues(Invoice.objects.filter(client=carol_account)).order_by("period")]

    with travel("2026-11-10"):  # October's bill is not yet due: September's is overdue
        assert states() == ["overdue", "open"]
        payment = payment_record(method="cash", receipt="C-1", amount=D("800"), paid_at=timezone.now(),
                                 client=carol_account).payment
        assert states() == ["paid", "partial"]
        owner = as_user("alice@alpha.test")
        accountant = as_user("anne@alpha.test")
        assert accountant.post(f"/dashboard/payments/{payment.pk}/reverse/", {"reason": "x"}).status_code == 403
        missing = owner.post(f"/dashboard/payments/{payment.pk}/reverse/", {"reason": ""})
        assert missing.status_code == 400 and b"Say why" in missing.content
        assert owner.post(f"/dashboard/payments/{payment.pk}/reverse/", {"reason": "Bounced cheque"}).status_code == 302
        payment.refresh_from_db()
        assert (payment.status, payment.reversal_reason, payment.allocations.count()) == ("reversed", "Bounced cheque", 0)
        assert payment.reversal_entry.amount == D("800.00") and payment.reversal_entry.reverses_id == payment.ledger_entry_id
        assert states() == ["overdue", "open"] and client_balance(carol_account.pk) == D("1440.00")
        assert AuditEvent.objects.filter(action="payment.reversed", object_repr="C-1").exists()
        again = owner.post(f"/dashboard/payments/{payment.pk}/reverse/", {"reason": "again"})
        assert again.status_code == 400 and LedgerEntry.objects.filter(kind="reversal").count() == 1
        assert b"Reversed" in as_user("carol@alpha.test").get("/portal/payments/").content


# --- settings, registration, screening --------------------------------------------------------------
def test_payment_settings_are_encrypted_and_never_shown_back(tenant) -> None:  # type: ignore[no-untyped-def]
    owner = as_user("alice@alpha.test")
    secret = "S3cr3tConsumerSecretValue"
    response = owner.post("/dashboard/payments/settings/", {
        "mpesa_environment": "sandbox", "mpesa_shortcode_type": "paybill", "mpesa_shortcode": "600984",
        "mpesa_c2b_version": "v1", "ip_check": "log", "mpesa_consumer_key": "KeyABCDEFGHIJKL",
        "mpesa_consumer_secret": secret, "mpesa_passkey": "pass-key-value-123456"})
    assert response.status_code == 302
    with connection.cursor() as cursor:
        cursor.execute("SELECT mpesa_consumer_secret, mpesa_passkey FROM payments_paymentsettings")
        stored = cursor.fetchone()
    assert all(value.startswith("enc1:") and secret not in value for value in stored)
    page = owner.get("/dashboard/payments/settings/").content.decode()
    assert secret not in page and "•••• alue" in page and "KeyABCDEFGHIJKL" not in page
    # Empty keeps, "remove" clears, and the audit names fields, never values.
    owner.post("/dashboard/payments/settings/", {
        "mpesa_environment": "sandbox", "mpesa_shortcode_type": "paybill", "mpesa_shortcode": "600984",
        "mpesa_c2b_version": "v2", "ip_check": "log", "clear_mpesa_passkey": "on"})
    cfg = PaymentSettings.load()
    assert (cfg.mpesa_consumer_secret, cfg.mpesa_passkey, cfg.mpesa_c2b_version) == (secret, "", "v2")
    events = AuditEvent.objects.filter(action="payments.settings_changed").order_by("id")
    assert events[1].extra_data == {"fields": ["mpesa_c2b_version", "mpesa_passkey"]}
    assert secret not in json.dumps([e.extra_data for e in events])
    bad = owner.post("/dashboard/payments/settings/", {
        "mpesa_environment": "sandbox", "mpesa_shortcode_type": "till", "mpesa_shortcode": "12ab",
        "mpesa_c2b_version": "v1", "ip_check": "log", "paystack_secret_key": "pk_live_public"})
    assert bad.status_code == 400
    for words in (b"5 to 7 digit", b"needs its till number", b"starts with sk_test_"):
        assert words in bad.content
    assert as_user("amos@alpha.test").get("/dashboard/payments/settings/").status_code == 403


def test_registering_the_c2b_urls_with_daraja(tenant, alpha, daraja) -> None:  # type: ignore[no-untyped-def]
    mpesa_ready(mpesa_shortcode="600984")
    owner = as_user("alice@alpha.test")
    page = owner.post("/dashboard/payments/settings/register-c2b/", follow=True).content.decode()
    assert "Registered with M-Pesa in the sandbox (testing): Success" in page
    registered = daraja.registered["600984"]
    assert registered["ConfirmationURL"].endswith(f"/payments/c2b/confirmation/{alpha.callback_token}/")
    assert registered["ValidationURL"].endswith(f"/payments/c2b/validation/{alpha.callback_token}/")
    assert registered["ResponseType"] == "Completed"
    assert PaymentSettings.load().c2b_registered_at is not None
    mpesa_ready(mpesa_shortcode="600984", mpesa_consumer_secret="wrong-secret")
    refused = owner.post("/dashboard/payments/settings/register-c2b/", follow=True).content.decode()
    assert "M-Pesa refused the registration" in refused
    assert AuditEvent.objects.filter(action="payments.c2b_register_failed").count() == 1


def test_c2b_through_the_stand_in_reaches_the_account(carol_account, daraja, recorder, alpha) -> None:  # type: ignore[no-untyped-def]
    mpesa_ready(mpesa_shortcode="600984")
    as_user("alice@alpha.test").post("/dashboard/payments/settings/register-c2b/")
    daraja.simulate_c2b(shortcode="600984", amount=300, bill_ref=carol_account.account_number.lower(),
                        version="v1", duplicates=2)
    arrived = recorder.wait(3)  # validation, then the confirmation twice
    assert [a.path.split("/")[3] for a in arrived] == ["validation", "confirmation", "confirmation"]
    for item in arrived:
        recorder.replay(Http(), item)
    payment = Payment.objects.get()
    assert len(payment.payer) == 64 and payment.client_id == carol_account.pk  # v1: a hashed MSISDN
    assert client_balance(carol_account.pk) == D("1140.00")


def test_callbacks_from_elsewhere_are_logged_or_refused(tenant, alpha, settings) -> None:  # type: ignore[no-untyped-def]
    http = Http(HTTP_HOST=host_of("alpha"))
    path = f"/payments/mpesa/c2b/confirmation/{alpha.callback_token}/"
    body = json.dumps({"TransID": "X1", "TransAmount": "5", "TransTime": "20261123100000", "BillRefNumber": "none"})
    http.post(path, data=body, content_type="application/json", REMOTE_ADDR="10.9.9.9")
    assert "not a published Safaricom address" in CallbackInbox.objects.get().note  # logged, kept
    settings.TRUSTED_PROXY_COUNT = 1  # behind our proxy: the hop it added is the caller
    http.post(path, data=body.replace("X1", "X2"), content_type="application/json", REMOTE_ADDR="10.0.0.1",
              HTTP_X_FORWARDED_FOR="6.6.6.6, 196.201.214.200")
    assert CallbackInbox.objects.order_by("-id")[0].source_ip == "196.201.214.200"
    assert CallbackInbox.objects.order_by("-id")[0].note == ""
    mpesa_ready(ip_check="enforce")
    refused = http.post(path, data=body, content_type="application/json", REMOTE_ADDR="10.9.9.9")
    assert refused.status_code == 403 and CallbackInbox.objects.count() == 2
    allowed = http.post(path, data=body.replace("X1", "X3"), content_type="application/json",
                        REMOTE_ADDR="196.201.213.44")
    assert allowed.status_code == 200 and CallbackInbox.objects.count() == 3


def test_unknown_accounts_can_be_accepted_into_reconciliation(tenant, alpha) -> None:  # type: ignore[no-untyped-def]
    http = Http(HTTP_HOST=host_of("alpha"))
    path = f"/payments/c2b/validation/{alpha.callback_token}/"
    body = json.dumps({"TransID": "V1", "TransAmount": "5", "BillRefNumber": "NOPE-1"})
    assert http.post(path, data=body, content_type="application/json").json()["ResultCode"] == "C2B00012"
    mpesa_ready(accept_unknown_accounts=True)
    assert http.post(path, data=body, content_type="application/json").json() == {"ResultCode": "0", "ResultDesc": "Accepted"}
    assert "accepted into reconciliation" in CallbackInbox.objects.order_by("-id")[0].note


# --- isolation -------------------------------------------------------------------------------------------
def test_no_provider_sees_anothers_payment_pages(carol_account, alpha, beta) -> None:  # type: ignore[no-untyped-def]
    request = PaymentRequest.objects.create(channel="stk", reference="ws_CO_alpha", client=carol_account, amount=D("5"))
    bob = Http(HTTP_HOST=host_of("beta"))
    login(bob, "bob@beta.test")
    for path in ("/dashboard/payments/settings/", "/dashboard/payments/requests/"):
        assert bob.get(path).status_code == 200
        assert b"ws_CO_alpha" not in bob.get(path).content and b"600984" not in bob.get(path).content
    # alpha's client cannot follow a request id on beta, nor sign in there.
    assert bob.get(f"/portal/pay/{request.pk}/status/").status_code in (302, 403, 404)
    body = json.dumps(charge_success("MJS-x", 100)).encode()
    with tenant_context(beta):
        PaymentSettings.load()  # beta has no Paystack key: its webhook does not exist
    answer = Http(HTTP_HOST=host_of("beta")).post("/payments/paystack/webhook/", data=body,
                                                   content_type="application/json",
                                                   HTTP_X_PAYSTACK_SIGNATURE=paystack_sign(body, PAYSTACK_SECRET))
    assert answer.status_code == 404
    with tenant_context(beta):
        assert not CallbackInbox.objects.exists() and not PaymentRequest.objects.exists()


# --- API extensions -------------------------------------------------------------------------------
def test_the_api_reverses_payments_and_hands_out_pay_links(carol_account, alpha_api, beta_api) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import api_client

    payment = payment_record(method="bank", receipt="BNK-9", amount=D("500"), paid_at=timezone.now(),
                             client=carol_account).payment
    assert beta_api.post(f"/api/v1/payments/{payment.pk}/reverse/", {"reason": "x"}, format="json").status_code == 404
    assert beta_api.get(f"/api/v1/clients/{carol_account.pk}/pay-link/").status_code == 404
    missing = alpha_api.post(f"/api/v1/payments/{payment.pk}/reverse/", {}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()
    done = alpha_api.post(f"/api/v1/payments/{payment.pk}/reverse/", {"reason": "Bank recalled it"}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "reversed" and done.json()["allocations"] == []
    again = alpha_api.post(f"/api/v1/payments/{payment.pk}/reverse/", {"reason": "again"}, format="json")
    assert again.status_code == 400 and "payment" in again.json()
    link = alpha_api.get(f"/api/v1/clients/{carol_account.pk}/pay-link/").json()
    assert link["account_number"] == carol_account.account_number and link["expires_in_days"] == 45
    path = link["url"].split(host_of("alpha"), 1)[1]
    assert Http(HTTP_HOST=host_of("alpha")).get(path).status_code == 200
    assert api_client("alpha").get(f"/api/v1/clients/{carol_account.pk}/pay-link/").status_code == 401


# --- what review found ------------------------------------------------------------------------------
def test_an_stk_receipt_first_seen_unmatched_goes_to_the_requests_account(carol_account, daraja, recorder) -> None:  # type: ignore[no-untyped-def]
    from tests.payments.test_payments import confirmation

    as_user("carol@alpha.test").post("/portal/pay/", {"method": "mpesa", "phone": PHONE, "amount": "500"})
    delivered = recorder.wait(1)[0]
    receipt = json.loads(delivered.body)["Body"]["stkCallback"]["CallbackMetadata"]["Item"][1]["Value"]
    # The paybill's confirmation for the same receipt came first, with a reference nobody has.
    c2b = inbox_store(kind="c2b_confirmation", body=json.dumps(confirmation("TRUNCATEDREF", "500", receipt)).encode(),
                      headers={}, source_ip=None)
    assert inbox_process(c2b.pk) == "processed" and Payment.objects.get().status == "unmatched"
    recorder.replay(Http(), delivered)
    payment = Payment.objects.get()
    assert (payment.status, payment.client_id) == ("matched", carol_account.pk)
    assert client_balance(carol_account.pk) == D("940.00")
    assert PaymentRequest.objects.get().payment_id == payment.pk


def test_a_push_whose_answer_was_lost_is_still_matched(carol_account, daraja, recorder, settings) -> None:  # type: ignore[no-untyped-def]
    from payments import daraja as client_module

    real = client_module._call

    def lost_answer(method, url, **kw):  # type: ignore[no-untyped-def]
        status, payload = real(method, url, **kw)  # Daraja took it and will call back...
        if "stkpush/v1/processrequest" in url:
            raise client_module.DarajaError("unreachable", "timed out")  # ...but its answer never came
        return status, payload

    client_module._call = lost_answer
    try:
        page = as_user("carol@alpha.test").post("/portal/pay/", {"method": "mpesa", "phone": PHONE, "amount": "300"},
                                                follow=True)
    finally:
        client_module._call = real
    request = PaymentRequest.objects.get()
    assert request.status == "pending" and request.reference.startswith("new-")
    assert b"If a prompt reaches your phone" in page.content
    recorder.replay(Http(), recorder.wait(1)[0])
    request.refresh_from_db()
    assert request.status == "paid" and request.reference.startswith("ws_CO_")
    assert request.payment.client_id == carol_account.pk


def test_one_poisoned_callback_does_not_hold_up_the_rest(carol_account) -> None:  # type: ignore[no-untyped-def]
    from payments.tasks import sweep_inbox
    from tests.payments.test_payments import confirmation

    old = timezone.now() - timedelta(minutes=30)
    bodies = [confirmation(carol_account.account_number, "100", "GOOD000001"),
              confirmation(carol_account.account_number, "1e11", "HUGE000001"),
              confirmation(carol_account.account_number, "100", "R" * 80),
              {"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 0,
                                        "CallbackMetadata": {"Item": {"Name": "Amount", "Value": 1}}}}}]
    for i, body in enumerate(bodies):
        kind = "stk_callback" if "Body" in body else "c2b_confirmation"
        row = inbox_store(kind=kind, body=json.dumps(body).encode(), headers={}, source_ip=None)
        CallbackInbox.objects.filter(pk=row.pk).update(received=old + timedelta(minutes=i))
    assert sweep_inbox() == 4
    assert list(CallbackInbox.objects.order_by("received").values_list("status", flat=True)) == [
        "processed", "invalid", "invalid", "invalid"]
    assert list(Payment.objects.values_list("receipt", flat=True)) == ["GOOD000001"]


def test_reversing_the_older_of_two_payments_reallocates_oldest_first(carol_account) -> None:  # type: ignore[no-untyped-def]
    from payments.services import payment_reverse

    with travel("2026-11-10"):
        first = payment_record(method="cash", receipt="C-A", amount=D("500"), paid_at=timezone.now(),
                               client=carol_account).payment
        second = payment_record(method="cash", receipt="C-B", amount=D("940"),
                                paid_at=timezone.now() + timedelta(minutes=1), client=carol_account).payment
        assert [(a.invoice.period, a.amount) for a in second.allocations.all()] == [("2026-10", D("940.00"))]
        payment_reverse(payment=first, reason="Counterfeit note", actor="test")
        # The 940 still paid now settles September first; October owes 500 and is not yet due.
        assert [(a.invoice.period, a.amount) for a in second.allocations.order_by("invoice__period")] == [
            ("2026-09", D("500.00")), ("2026-10", D("440.00"))]
        states = [i.state for i in invoices_with_dues(Invoice.objects.filter(client=carol_account)).order_by("period")]
        assert states == ["paid", "partial"] and client_balance(carol_account.pk) == D("500.00")


def test_a_pay_link_in_the_earlier_signed_form_still_opens(carol_account, alpha) -> None:  # type: ignore[no-untyped-def]
    from payments.collect import _pay_signer

    old = _pay_signer().sign(f"{carol_account.pk}-{carol_account.account_number}")
    http = Http(HTTP_HOST=host_of("alpha"))
    assert "." in old and http.get(f"/pay/{old}/").status_code == 200
    assert http.get(f"/pay/{old[:-1]}x/").status_code == 404
    with travel(str(timezone.localdate() + timedelta(days=46))):
        assert http.get(f"/pay/{old}/").status_code == 404


def test_a_pay_link_made_for_another_provider_is_refused(carol_account, alpha, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(beta):
        foreign = pay_link_token(carol_account)  # same client id and account, beta's signature
    assert foreign != pay_link_token(carol_account)
    http = Http(HTTP_HOST=host_of("alpha"))
    assert http.get(f"/pay/{foreign}/").status_code == 404
    assert http.get(f"/pay/{pay_link_token(carol_account)}/").status_code == 200


def test_staff_see_the_callback_without_the_payers_phone(carol_account, daraja, recorder) -> None:  # type: ignore[no-untyped-def]
    as_user("carol@alpha.test").post("/portal/pay/", {"method": "mpesa", "phone": PHONE, "amount": "100"})
    recorder.replay(Http(), recorder.wait(1)[0])
    page = as_user("anne@alpha.test").get(f"/dashboard/payments/{Payment.objects.get().pk}/").content.decode()
    assert "MpesaReceiptNumber" in page and "254712345678" not in page and "(hidden)" in page


def test_a_kiswahili_client_reads_the_payment_in_kiswahili(carol_account, daraja, recorder) -> None:  # type: ignore[no-untyped-def]
    """A payment request's messages are written in the client's language, from the prompt to the
    receipt and a refusal (Daraja's result code told in the payer's words); a form error follows
    the page's language."""
    Client.objects.filter(pk=carol_account.pk).update(language="sw")
    carol = as_user("carol@alpha.test")
    assert carol.post("/portal/pay/", {"method": "mpesa", "phone": PHONE, "amount": "700"}).status_code == 302
    request = PaymentRequest.objects.get()
    assert request.message == "Angalia simu yako: weka PIN yako ya M-Pesa kulipa KES 700.00."
    recorder.replay(Http(), recorder.wait(1)[0])
    status = carol.get(f"/portal/pay/{request.pk}/status/").json()
    assert status["status"] == "paid" and status["message"] == f"Imelipwa. Risiti ya M-Pesa {status['receipt']}. Asante!"

    daraja.queue_stk_outcome(1032)
    PaymentRequest.objects.update(created=timezone.now() - timedelta(minutes=5))  # past the one-a-minute limit
    assert carol.post("/portal/pay/", {"method": "mpesa", "phone": PHONE, "amount": "200"}).status_code == 302
    recorder.replay(Http(), recorder.wait(2)[1])
    refused = PaymentRequest.objects.latest("pk")
    assert (refused.status, refused.message) == ("failed", "Ulighairi malipo kwenye simu yako.")
    bad = carol.post("/portal/pay/", {"method": "mpesa", "phone": "12", "amount": "200"})
    assert bad.status_code == 400 and "Weka namba ya simu ya M-Pesa" in bad.content.decode()
