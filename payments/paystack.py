"""Paystack (card): the checkout started from the portal or a pay link, verified when the payer
is back and by the signed `charge.success` webhook; one payment per reference."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import urllib.error
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.dateparse import parse_datetime

from clients.models import Client
from majismart import outbound
from payments.collect import whole_amount
from payments.dates import payment_plausible_or_now
from payments.inbox import inbox_mark
from payments.matching import client_for_account
from payments.models import CallbackInbox, Payment, PaymentRequest, PaymentSettings
from payments.services import payment_record

log = logging.getLogger(__name__)

MSG_CARD_OFF = "Card payments are not set up for this provider."
MSG_EMAIL = "Enter the email address for the card receipt."
MSG_CARD_STARTED = "Complete the card payment on Paystack's page."


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
        whole = whole_amount(amount)
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
        return inbox_mark(inbox.pk, CallbackInbox.Status.INVALID, f"Could not be read: {type(exc).__name__} {exc}")
    if kind != "charge.success":
        return inbox_mark(inbox.pk, CallbackInbox.Status.PROCESSED, f"Ignored event {kind}")
    try:
        payment, created, why = paystack_charge_record(data, inbox=inbox)
    except (InvalidOperation, ValueError, TypeError) as exc:
        return inbox_mark(inbox.pk, CallbackInbox.Status.INVALID, f"Could not be read: {type(exc).__name__} {exc}")
    if payment is None:
        return inbox_mark(inbox.pk, CallbackInbox.Status.INVALID, why)
    return inbox_mark(inbox.pk, CallbackInbox.Status.PROCESSED if created else CallbackInbox.Status.DUPLICATE,
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
