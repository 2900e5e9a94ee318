"""Payments we ask for: M-Pesa STK pushes and Paystack card checkouts (the portal and pay links),
their results from callbacks and queries, and the signed pay links themselves."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import secrets
import urllib.error
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.dateparse import parse_datetime

from billing.models import Invoice
from billing.selectors import client_balance
from clients.models import Client
from majismart import outbound
from majismart.crypto import blind_index
from majismart.money import kes
from majismart.phones import normalize_phone
from majismart.tenancy import connection
from majismart.urls import domain_url
from payments import daraja
from payments.models import CallbackInbox, Payment, PaymentRequest, PaymentSettings
from payments.services import (
    MPESA_MAX_AMOUNT,
    _amount,
    _receipt,
    _trans_time,
    inbox_mark,
    payment_assign_to,
    payment_plausible_or_now,
    payment_record,
)
from tenants.selectors import callback_urls

log = logging.getLogger(__name__)

MSG_MPESA_OFF = "M-Pesa payments are not set up for this provider yet."
MSG_CARD_OFF = "Card payments are not set up for this provider."
MSG_AMOUNT = "Enter a whole number of shillings from 1 to 250,000."
MSG_PHONE_WAIT = "An M-Pesa prompt was just sent to this phone. You can send another in about a minute."
MSG_CLIENT_LIMIT = "Too many payment requests in the last hour. Please try again later, or pay by paybill."
MSG_EMAIL = "Enter the email address for the card receipt."
MSG_SETTLED = "Nothing to pay — your account is settled."
MSG_SENT = "Check your phone: enter your M-Pesa PIN to pay {amount}."
MSG_PAID = "Paid. M-Pesa receipt {receipt}. Thank you!"
MSG_CONFIRMED = ("M-Pesa confirmed the payment. It will show on your account as soon as M-Pesa sends the "
                 "receipt.")
MSG_NO_ANSWER = "M-Pesa did not answer about this payment. If money left your account, it will reach us."
MSG_CARD_STARTED = "Complete the card payment on Paystack's page."
STK_MAX = int(MPESA_MAX_AMOUNT)


def default_amount(client: Client) -> int:
    """What the payer is offered: the balance, rounded up to a whole shilling (M-Pesa takes no
    cents), or nothing when the account is settled."""
    balance = client_balance(client.pk)
    return max(int(math.ceil(balance)), 0)


def _whole_amount(raw: object) -> int:
    try:
        value = Decimal(str(raw).replace(",", "").strip())
    except InvalidOperation:
        raise ValidationError({"amount": [MSG_AMOUNT]}) from None
    if not value.is_finite() or value != value.to_integral_value() or not 1 <= value <= STK_MAX:
        raise ValidationError({"amount": [MSG_AMOUNT]})
    return int(value)


def _mask(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"{digits[:4]}****{digits[-3:]}" if len(digits) >= 9 else ""


# --- M-Pesa STK push ------------------------------------------------------------------------
def stk_start(*, client: Client, phone: str, amount: object, source: str = PaymentRequest.Source.PORTAL,
              invoice: Invoice | None = None) -> PaymentRequest:
    """Ask Daraja to prompt `phone` for `amount` for `client`'s account. Limits: one push per
    phone per minute (Daraja locks a subscriber meanwhile), STK_PUSHES_PER_HOUR per client."""
    cfg = PaymentSettings.load()
    if not cfg.mpesa_ready:
        raise ValidationError({"__all__": [MSG_MPESA_OFF]})
    errors: dict[str, list[str]] = {}
    try:
        e164 = normalize_phone(phone)
        if not e164:
            raise ValidationError("")
    except ValidationError:
        e164 = ""
        errors["phone"] = ["Enter the M-Pesa phone number, e.g. 0712 345 678."]
    try:
        whole = _whole_amount(amount)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    index = blind_index(e164)
    with transaction.atomic():
        # Serialise pushes per client and per phone, so the limits hold under concurrency.
        Client.objects.select_for_update().filter(pk=client.pk).first()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"stk-phone:{index}"])
        recent = PaymentRequest.objects.filter(channel=PaymentRequest.Channel.STK)
        if recent.filter(phone_index=index, created__gt=now - timedelta(seconds=60)).exists():
            raise ValidationError({"phone": [MSG_PHONE_WAIT]})
        if recent.filter(client=client, created__gt=now - timedelta(hours=1)).count() >= settings.STK_PUSHES_PER_HOUR:
            raise ValidationError({"__all__": [MSG_CLIENT_LIMIT]})
        # Stored before Daraja is called; the reference becomes the CheckoutRequestID after.
        request = PaymentRequest.objects.create(
            channel=PaymentRequest.Channel.STK, reference=f"new-{secrets.token_hex(12)}", client=client,
            invoice=invoice, amount=Decimal(whole), phone=e164, phone_index=index, source=source)
    try:
        answer = daraja.stk_push(daraja.Config.of(cfg), phone=e164, amount=whole,
                                 account_reference=client.account_number,
                                 description="Water bill", callback_url=callback_urls(connection.tenant)["stk_callback"])
    except daraja.DarajaError as exc:
        log.warning("STK push refused for %s: %s %s", client.account_number, exc.code, exc.message)
        if exc.code == "unreachable":
            # Daraja may have sent the prompt even though its answer never reached us: keep the
            # request open; a result that arrives is matched to it by phone and amount.
            PaymentRequest.objects.filter(pk=request.pk).update(
                message="If a prompt reaches your phone, enter your M-Pesa PIN. If none comes within a minute, "
                        "try again.", result_desc=exc.message[:300])
            request.refresh_from_db()
            return request
        message = ("M-Pesa is busy with another request on this phone. Wait a minute, then try again."
                   if "lock subscriber" in exc.message.lower() else
                   "M-Pesa could not send the payment request just now. Please try again shortly.")
        PaymentRequest.objects.filter(pk=request.pk).update(status=PaymentRequest.Status.FAILED,
                                                            result_code=exc.code[:20], result_desc=exc.message[:300],
                                                            message=message)
        request.refresh_from_db()
        return request
    PaymentRequest.objects.filter(pk=request.pk).update(
        reference=answer["CheckoutRequestID"], merchant_request_id=str(answer.get("MerchantRequestID", ""))[:80],
        message=MSG_SENT.format(amount=kes(whole)))
    request.refresh_from_db()
    return request


WAITING = "waiting"


def _transaction_date(raw: object, received: datetime) -> datetime:
    """Daraja's TransactionDate; without one, or with one that is no possible date or is far
    from today, the moment the result arrived (seconds after the payment): the request it
    answers says who paid, so the payment is still the payer's."""
    try:
        return _trans_time(str(raw or ""))
    except ValueError:
        return received


def stk_callback_process(inbox: CallbackInbox) -> str:
    """One stored STK result: the payment (one per MpesaReceiptNumber) or the failure, told in
    words a payer understands. A result that beats its own request's commit waits a little."""
    try:
        data = json.loads(inbox.body)
        callback = data["Body"]["stkCallback"]
        checkout = str(callback["CheckoutRequestID"]).strip()
        code = str(callback["ResultCode"]).strip()
        if not checkout or not code:
            raise KeyError("CheckoutRequestID")
        paid = None
        if code == "0":
            raw_items = callback["CallbackMetadata"]["Item"]
            if not isinstance(raw_items, list) or not all(isinstance(i, dict) for i in raw_items):
                raise TypeError("CallbackMetadata.Item is not a list of items")
            items = {str(i.get("Name")): i.get("Value") for i in raw_items}  # by Name, never by position
            receipt = _receipt(items["MpesaReceiptNumber"])
            paid_at = _transaction_date(items.get("TransactionDate"), inbox.received)
            phone = str(items.get("PhoneNumber") or "")
            paid = (receipt, _amount(items["Amount"]), paid_at, _mask(phone), phone)
    except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
        return _inbox_done(inbox, CallbackInbox.Status.INVALID, f"Could not be read: {type(exc).__name__} {exc}")
    request = (PaymentRequest.objects.select_for_update()
               .filter(channel=PaymentRequest.Channel.STK, reference=checkout).select_related("client").first())
    if request is None and paid is not None:
        request = _orphan_request(paid, inbox)
        if request is not None:
            PaymentRequest.objects.filter(pk=request.pk).update(reference=checkout)
    if request is None:
        if timezone.now() - inbox.received < timedelta(minutes=10):
            return WAITING
        if paid is None:
            return _inbox_done(inbox, CallbackInbox.Status.INVALID, f"Unknown CheckoutRequestID {checkout}")
        # Money with no request we know of: kept for reconciliation, never lost.
        recorded = payment_record(method=Payment.Method.MPESA, receipt=paid[0], amount=paid[1], paid_at=paid[2],
                                  client=None, account_reference="", payer=paid[3], inbox=inbox)
        return _inbox_done(inbox, CallbackInbox.Status.PROCESSED if recorded.created else CallbackInbox.Status.DUPLICATE,
                           f"Unknown CheckoutRequestID {checkout}: payment kept for reconciliation")
    if paid is None:
        if request.status == PaymentRequest.Status.PAID:
            return _inbox_done(inbox, CallbackInbox.Status.DUPLICATE, "Request already paid")
        PaymentRequest.objects.filter(pk=request.pk).update(
            status=PaymentRequest.Status.FAILED, result_code=code[:20],
            result_desc=str(callback.get("ResultDesc", ""))[:300], message=daraja.stk_message(code))
        return _inbox_done(inbox, CallbackInbox.Status.PROCESSED, f"Failed: {code}")
    receipt, amount, paid_at, payer = paid[:4]
    recorded = payment_record(method=Payment.Method.MPESA, receipt=receipt, amount=amount, paid_at=paid_at,
                              client=request.client, account_reference=request.client.account_number,
                              payer=payer, inbox=inbox, close_request=False)
    if recorded.payment.status == Payment.Status.UNMATCHED:
        # The same receipt arrived first without a usable account (a C2B confirmation whose
        # BillRefNumber matched nobody, or a statement row): our request says whose it is.
        payment_assign_to(payment=recorded.payment, client=request.client, actor=None,
                          note=f" (STK request {checkout})", close_request=False)
    PaymentRequest.objects.filter(pk=request.pk).update(
        status=PaymentRequest.Status.PAID, result_code="0", payment=recorded.payment,
        result_desc=str(callback.get("ResultDesc", ""))[:300], message=MSG_PAID.format(receipt=receipt))
    note = "" if amount == request.amount else f"Paid {amount}, asked {request.amount}"
    return _inbox_done(inbox, CallbackInbox.Status.PROCESSED if recorded.created else CallbackInbox.Status.DUPLICATE,
                       note if recorded.created else f"Already recorded: {receipt}")


def _orphan_request(paid: tuple, inbox: CallbackInbox) -> PaymentRequest | None:
    """A push whose answer from Daraja never reached us (timeout) has no CheckoutRequestID:
    the result that does arrive is matched to it by phone and amount within a quarter hour."""
    try:
        phone = normalize_phone("+" + str(paid[4]).lstrip("+"))
    except ValidationError:
        return None
    if not phone:
        return None
    return (PaymentRequest.objects.select_for_update().select_related("client")
            .filter(channel=PaymentRequest.Channel.STK, reference__startswith="new-", phone_index=blind_index(phone),
                    amount=paid[1], created__gte=inbox.received - timedelta(minutes=15))
            .order_by("-created").first())


def _inbox_done(inbox: CallbackInbox, status: str, note: str = "") -> str:
    return inbox_mark(inbox.pk, status, note)


def stk_query_stale(*, now: datetime | None = None) -> int:
    """Pushes with no result after STK_QUERY_AFTER_SECONDS: ask Daraja (STK query). A push
    unanswered for a day is closed as failed."""
    now = now or timezone.now()
    cfg = PaymentSettings.load()
    stale = PaymentRequest.objects.filter(
        channel=PaymentRequest.Channel.STK, status=PaymentRequest.Status.PENDING,
        created__lt=now - timedelta(seconds=settings.STK_QUERY_AFTER_SECONDS)).exclude(reference__startswith="new-")
    asked = 0
    for request in stale.filter(created__lt=now - timedelta(days=1)):
        PaymentRequest.objects.filter(pk=request.pk, status=PaymentRequest.Status.PENDING).update(
            status=PaymentRequest.Status.FAILED, message=MSG_NO_ANSWER)
    if not cfg.mpesa_ready:
        return 0
    config = daraja.Config.of(cfg)
    recently = now - timedelta(seconds=60)
    for request in stale.filter(created__gte=now - timedelta(days=1)).exclude(queried_at__gt=recently)[:200]:
        try:
            verdict = daraja.stk_query(config, request.reference)
        except daraja.DarajaError as exc:
            log.warning("STK query for %s failed: %s", request.reference, exc)
            PaymentRequest.objects.filter(pk=request.pk).update(queried_at=now)
            continue
        asked += 1
        update: dict[str, object] = {"queried_at": now}
        if verdict is not None:
            code = str(verdict.get("ResultCode"))
            update.update(result_code=code[:20], result_desc=str(verdict.get("ResultDesc", ""))[:300])
            if code == "0":
                update.update(status=PaymentRequest.Status.CONFIRMED, message=MSG_CONFIRMED)
            else:
                update.update(status=PaymentRequest.Status.FAILED, message=daraja.stk_message(code))
        # Only a still-pending request changes: a callback that landed meanwhile wins.
        PaymentRequest.objects.filter(pk=request.pk, status=PaymentRequest.Status.PENDING).update(**update)
    return asked


# --- Paystack ------------------------------------------------------------------------------------
class PaystackError(Exception):
    pass


def _paystack(method: str, path: str, secret: str, body: dict | None = None) -> dict:
    try:
        with outbound.urlopen(
                settings.PAYSTACK_URL + path, method=method,
                data=json.dumps(body).encode() if body is not None else None,
                headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json",
                         "Accept": "application/json"},
                timeout=settings.PAYMENTS_HTTP_TIMEOUT) as response:
            payload = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            payload = json.loads(exc.read() or b"{}")
        except ValueError:
            payload = {}
        raise PaystackError(str(payload.get("message") or f"HTTP {exc.code}")) from exc
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        raise PaystackError(f"Paystack could not be reached ({exc}).") from exc
    if not payload.get("status"):
        raise PaystackError(str(payload.get("message") or "Paystack refused the request."))
    return payload.get("data") or {}


def paystack_start(*, client: Client, amount: object, email: str, return_url: str,
                   source: str = PaymentRequest.Source.PORTAL) -> tuple[PaymentRequest, str]:
    """Initialise a Paystack checkout (amount in cents of KES); returns the request and the page
    to send the payer to."""
    cfg = PaymentSettings.load()
    if not cfg.paystack_ready:
        raise ValidationError({"__all__": [MSG_CARD_OFF]})
    errors: dict[str, list[str]] = {}
    try:
        whole = _whole_amount(amount)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        whole = 0
    email = (email or "").strip()
    if "@" not in email or len(email) > 200:
        errors["email"] = [MSG_EMAIL]
    if errors:
        raise ValidationError(errors)
    reference = f"MJS-{secrets.token_hex(10)}"
    request = PaymentRequest.objects.create(channel=PaymentRequest.Channel.PAYSTACK, reference=reference,
                                            client=client, amount=Decimal(whole), source=source)
    try:
        data = _paystack("POST", "/transaction/initialize", cfg.paystack_secret_key, {
            "email": email, "amount": whole * 100, "currency": "KES", "reference": reference,
            "callback_url": return_url, "metadata": {"account_number": client.account_number}})
    except PaystackError as exc:
        PaymentRequest.objects.filter(pk=request.pk).update(status=PaymentRequest.Status.FAILED,
                                                            message=f"Card payment could not start: {exc}"[:300])
        raise ValidationError({"__all__": [f"Card payment could not start: {exc}"]}) from exc
    checkout = str(data.get("authorization_url", ""))
    if not checkout.startswith("https://"):  # we only ever send a payer on to Paystack's own page
        PaymentRequest.objects.filter(pk=request.pk).update(status=PaymentRequest.Status.FAILED,
                                                            message="Paystack gave no checkout page.")
        raise ValidationError({"__all__": ["Card payment could not start: Paystack gave no checkout page."]})
    PaymentRequest.objects.filter(pk=request.pk).update(message=MSG_CARD_STARTED)
    return request, checkout


def paystack_signature_ok(body: bytes, signature: str, secret: str) -> bool:
    """x-paystack-signature: HMAC-SHA512 (hex) of the raw body, keyed with the secret key."""
    if not secret or not signature:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def paystack_charge_record(data: dict, *, inbox: CallbackInbox | None = None) -> tuple[Payment | None, bool, str]:
    """A successful charge (webhook or verify): one payment per reference, for the client of our
    request (or the account in its metadata); amount in KES from cents."""
    reference = str(data.get("reference") or "").strip()
    if data.get("status") != "success" or not reference:
        return None, False, "not a successful charge"
    if str(data.get("currency") or "KES").upper() != "KES":
        return None, False, f"currency {data.get('currency')} is not KES"
    amount = (Decimal(str(data.get("amount"))) / 100).quantize(Decimal("0.01"))
    if amount <= 0:
        return None, False, "amount is not positive"
    try:
        paid_at = parse_datetime(str(data.get("paid_at") or data.get("paidAt") or ""))
    except ValueError:  # well formed, but no date (2024-02-30)
        paid_at = None
    paid_at = payment_plausible_or_now(paid_at)
    request = (PaymentRequest.objects.select_for_update().select_related("client")
               .filter(channel=PaymentRequest.Channel.PAYSTACK, reference=reference).first())
    raw_metadata = data.get("metadata")
    metadata = raw_metadata if isinstance(raw_metadata, dict) else {}
    client = request.client if request else None
    if client is None and metadata.get("account_number"):
        from payments.services import client_for_account

        client = client_for_account(str(metadata["account_number"]))
    raw_customer = data.get("customer")
    customer = raw_customer if isinstance(raw_customer, dict) else {}
    name = " ".join(str(customer.get(k) or "") for k in ("first_name", "last_name")).strip()
    recorded = payment_record(method=Payment.Method.PAYSTACK, receipt=reference[:64], amount=amount,
                              paid_at=paid_at, client=client,
                              account_reference=client.account_number if client else str(metadata.get("account_number", "")),
                              payer=str(customer.get("email") or "")[:120], payer_name=name, inbox=inbox)
    if request is not None:
        PaymentRequest.objects.filter(pk=request.pk).update(status=PaymentRequest.Status.PAID,
                                                            payment=recorded.payment, result_code="success",
                                                            message=f"Paid by card. Reference {reference}.")
    return recorded.payment, recorded.created, ""


def paystack_event_process(inbox: CallbackInbox) -> str:
    try:
        event = json.loads(inbox.body)
        kind, data = event["event"], event["data"]
        if not isinstance(data, dict):
            raise TypeError("data")
    except (ValueError, KeyError, TypeError) as exc:
        return _inbox_done(inbox, CallbackInbox.Status.INVALID, f"Could not be read: {type(exc).__name__} {exc}")
    if kind != "charge.success":
        return _inbox_done(inbox, CallbackInbox.Status.PROCESSED, f"Ignored event {kind}")
    try:
        payment, created, why = paystack_charge_record(data, inbox=inbox)
    except (InvalidOperation, ValueError, TypeError) as exc:
        return _inbox_done(inbox, CallbackInbox.Status.INVALID, f"Could not be read: {type(exc).__name__} {exc}")
    if payment is None:
        return _inbox_done(inbox, CallbackInbox.Status.INVALID, why)
    return _inbox_done(inbox, CallbackInbox.Status.PROCESSED if created else CallbackInbox.Status.DUPLICATE,
                       "" if created else f"Already recorded: {payment.receipt}")


def paystack_verify(request: PaymentRequest) -> PaymentRequest:
    """The payer is back from Paystack: ask Paystack about the charge (the webhook may be slower)."""
    cfg = PaymentSettings.load()
    if request.status == PaymentRequest.Status.PENDING and cfg.paystack_ready:
        try:
            data = _paystack("GET", f"/transaction/verify/{request.reference}", cfg.paystack_secret_key)
        except PaystackError as exc:
            log.warning("Paystack verify %s: %s", request.reference, exc)
        else:
            with transaction.atomic():
                if data.get("status") == "success":
                    try:
                        paystack_charge_record(data)
                    except (InvalidOperation, ValueError, TypeError) as exc:  # the webhook will still come
                        log.warning("Paystack verify %s unreadable: %s", request.reference, exc)
                elif data.get("status") in ("failed", "abandoned", "reversed"):
                    PaymentRequest.objects.filter(pk=request.pk, status=PaymentRequest.Status.PENDING).update(
                        status=PaymentRequest.Status.FAILED, result_code=str(data.get("status")),
                        message=str(data.get("gateway_response") or "The card payment did not go through.")[:300])
    request.refresh_from_db()
    return request


# --- pay links -----------------------------------------------------------------------------------
# A link travels in every bill SMS, where each character costs: `<client id>-<day>-<signature>`
# in base 36 with a 96-bit HMAC (SECRET_KEY, salted per provider schema) over the id, account
# number and the day it was made, about 25 characters. Links in the older TimestampSigner form
# (dots in them) still open until they expire.
_EPOCH = date(2020, 1, 1)
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if not n:
            return out


def _pay_mac(pk: int, account: str, day: int) -> str:
    digest = salted_hmac(f"majismart.paylink:{connection.schema_name}", f"{pk}:{account}:{day}",
                         algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest[:12]).decode()


def _pay_signer() -> signing.TimestampSigner:
    # The earlier form, salted with the provider's schema as well.
    return signing.TimestampSigner(salt=f"majismart.paylink:{connection.schema_name}", sep=".")


def pay_link_token(client: Client) -> str:
    day = (timezone.localdate() - _EPOCH).days
    return f"{_b36(client.pk)}-{_b36(day)}-{_pay_mac(client.pk, client.account_number, day)}"


def pay_link_url(client: Client) -> str:
    """The link every bill SMS and email carries: opens this account's pay page without logging
    in, for PAY_LINK_MAX_AGE_DAYS."""
    return domain_url(connection.tenant.domain, f"/pay/{pay_link_token(client)}/")


def _legacy_pay_link(token: str) -> tuple[int, str] | None:
    try:
        value = _pay_signer().unsign(token, max_age=timedelta(days=settings.PAY_LINK_MAX_AGE_DAYS))
    except signing.BadSignature:
        return None
    pk, _, account = value.partition("-")
    return (int(pk), account) if pk.isdigit() else None


def pay_link_client(token: str) -> Client | None:
    """The client a pay link was made for, or None (forged, expired, or the account changed)."""
    if "." in token:
        found = _legacy_pay_link(token)
        if found is None:
            return None
        return Client.objects.filter(pk=found[0], account_number=found[1]).exclude(status=Client.Status.CLOSED).first()
    parts = token.split("-", 2)  # the signature's alphabet has "-" too
    if len(parts) != 3 or not all(parts) or not all(ch in _B36 for ch in parts[0] + parts[1]) or len(parts[0]) > 12:
        return None
    pk, day = int(parts[0], 36), int(parts[1], 36)
    if not 0 <= (timezone.localdate() - _EPOCH).days - day <= settings.PAY_LINK_MAX_AGE_DAYS:
        return None
    client = Client.objects.filter(pk=pk).exclude(status=Client.Status.CLOSED).first()
    if client is None or not hmac.compare_digest(parts[2], _pay_mac(pk, client.account_number, day)):
        return None
    return client
