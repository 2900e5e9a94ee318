"""M-Pesa: C2B confirmations one at a time (payments.batch takes them in sets), STK pushes (the
portal and pay links) with their results from callbacks and from Daraja's STK query."""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from accounts.languages import chosen_or_default
from billing.models import Invoice
from clients.models import Client
from clients.services import clients_lock
from majismart.badinput import printable
from majismart.crypto import blind_index
from majismart.money import kes
from majismart.phones import normalize_phone
from majismart.tenancy import connection
from payments import daraja
from payments.collect import whole_amount
from payments.inbox import inbox_mark
from payments.matching import client_for_account
from payments.models import CallbackInbox, Payment, PaymentRequest, PaymentSettings
from payments.services import payment_assign_to, payment_record
from tenants.selectors import callback_urls

log = logging.getLogger(__name__)

# What a payer reads: form errors in the page's language, a request's stored message in the
# client's (their own, else the provider's default: _said), as every message to a client is.
MSG_MPESA_OFF = gettext_noop("M-Pesa payments are not set up for this provider yet.")
MSG_PHONE_WAIT = gettext_noop("An M-Pesa prompt was just sent to this phone. You can send another in about a minute.")
MSG_CLIENT_LIMIT = gettext_noop("Too many payment requests in the last hour. Please try again later, or pay by paybill.")
MSG_PHONE = gettext_noop("Enter the M-Pesa phone number, e.g. 0712 345 678.")
MSG_SENT = gettext_noop("Check your phone: enter your M-Pesa PIN to pay {amount}.")
MSG_PAID = gettext_noop("Paid. M-Pesa receipt {receipt}. Thank you!")
MSG_CONFIRMED = gettext_noop("M-Pesa confirmed the payment. It will show on your account as soon as M-Pesa sends the "
                             "receipt.")
MSG_NO_ANSWER = gettext_noop("M-Pesa did not answer about this payment. If money left your account, it will reach us.")
MSG_UNREACHABLE = gettext_noop("If a prompt reaches your phone, enter your M-Pesa PIN. If none comes within a minute, "
                               "try again.")
MSG_BUSY = gettext_noop("M-Pesa is busy with another request on this phone. Wait a minute, then try again.")
MSG_NOT_SENT = gettext_noop("M-Pesa could not send the payment request just now. Please try again shortly.")


def _said(client: Client, text: str, **values: object) -> str:
    """A payment request's message as stored for `client`: in their language."""
    with translation.override(chosen_or_default(client.language)):
        return gettext(text).format(**values)


def _stk_said(client: Client, code: object) -> str:
    with translation.override(chosen_or_default(client.language)):
        return daraja.stk_message(code)


# --- C2B confirmations ---------------------------------------------------------------------------
def c2b_confirmation_process(inbox: CallbackInbox) -> str:
    """One stored C2B confirmation: a payment (matched by BillRefNumber, or unmatched)."""
    try:
        data = json.loads(inbox.body)
        receipt = daraja.read_receipt(data["TransID"])
        amount = daraja.read_amount(data["TransAmount"])
        paid_at, held = daraja.trans_time_or_held(data.get("TransTime"), inbox.received)
    except (ValueError, KeyError, TypeError, InvalidOperation, AttributeError) as exc:
        return inbox_mark(inbox.pk, CallbackInbox.Status.INVALID, f"Could not be read: {type(exc).__name__} {exc}")
    reference = printable(str(data.get("BillRefNumber") or ""))
    name = daraja.payer_name(data)
    recorded = payment_record(method=Payment.Method.MPESA, receipt=receipt, amount=amount, paid_at=paid_at,
                              client=None if held else client_for_account(reference), account_reference=reference,
                              payer=printable(str(data.get("MSISDN") or "")), payer_name=name, inbox=inbox)
    if recorded.created:
        return inbox_mark(inbox.pk, CallbackInbox.Status.PROCESSED, held)
    return inbox_mark(inbox.pk, CallbackInbox.Status.DUPLICATE, f"Already recorded: {receipt}")


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
        raise ValidationError({"__all__": [gettext(MSG_MPESA_OFF)]})
    errors: dict[str, list[str]] = {}
    try:
        e164 = normalize_phone(phone)
        if not e164:
            raise ValidationError("")
    except ValidationError:
        e164 = ""
        errors["phone"] = [gettext(MSG_PHONE)]
    try:
        whole = whole_amount(amount)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    index = blind_index(e164)
    with transaction.atomic():
        # Serialise pushes per client and per phone, so the limits hold under concurrency.
        clients_lock([client.pk])
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"stk-phone:{index}"])
        recent = PaymentRequest.objects.filter(channel=PaymentRequest.Channel.STK)
        if recent.filter(phone_index=index, created__gt=now - timedelta(seconds=60)).exists():
            raise ValidationError({"phone": [gettext(MSG_PHONE_WAIT)]})
        if recent.filter(client=client, created__gt=now - timedelta(hours=1)).count() >= settings.STK_PUSHES_PER_HOUR:
            raise ValidationError({"__all__": [gettext(MSG_CLIENT_LIMIT)]})
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
                message=_said(client, MSG_UNREACHABLE), result_desc=exc.message[:300])
            request.refresh_from_db()
            return request
        message = _said(client, MSG_BUSY if "lock subscriber" in exc.message.lower() else MSG_NOT_SENT)
        PaymentRequest.objects.filter(pk=request.pk).update(status=PaymentRequest.Status.FAILED,
                                                            result_code=exc.code[:20], result_desc=exc.message[:300],
                                                            message=message)
        request.refresh_from_db()
        return request
    PaymentRequest.objects.filter(pk=request.pk).update(
        reference=answer["CheckoutRequestID"], merchant_request_id=str(answer.get("MerchantRequestID", ""))[:80],
        message=_said(client, MSG_SENT, amount=kes(whole)))
    request.refresh_from_db()
    return request


WAITING = "waiting"


def _transaction_date(raw: object, received: datetime) -> datetime:
    """Daraja's TransactionDate; without one, or with one that is no possible date or is far
    from today, the moment the result arrived (seconds after the payment): the request it
    answers says who paid, so the payment is still the payer's."""
    try:
        return daraja.read_trans_time(str(raw or ""))
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
            receipt = daraja.read_receipt(items["MpesaReceiptNumber"])
            paid_at = _transaction_date(items.get("TransactionDate"), inbox.received)
            phone = str(items.get("PhoneNumber") or "")
            paid = (receipt, daraja.read_amount(items["Amount"]), paid_at, _mask(phone), phone)
    except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
        return inbox_mark(inbox.pk, CallbackInbox.Status.INVALID, f"Could not be read: {type(exc).__name__} {exc}")
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
            return inbox_mark(inbox.pk, CallbackInbox.Status.INVALID, f"Unknown CheckoutRequestID {checkout}")
        # Money with no request we know of: kept for reconciliation, never lost.
        recorded = payment_record(method=Payment.Method.MPESA, receipt=paid[0], amount=paid[1], paid_at=paid[2],
                                  client=None, account_reference="", payer=paid[3], inbox=inbox)
        return inbox_mark(inbox.pk, CallbackInbox.Status.PROCESSED if recorded.created else CallbackInbox.Status.DUPLICATE,
                           f"Unknown CheckoutRequestID {checkout}: payment kept for reconciliation")
    if paid is None:
        if request.status == PaymentRequest.Status.PAID:
            return inbox_mark(inbox.pk, CallbackInbox.Status.DUPLICATE, "Request already paid")
        PaymentRequest.objects.filter(pk=request.pk).update(
            status=PaymentRequest.Status.FAILED, result_code=code[:20],
            result_desc=str(callback.get("ResultDesc", ""))[:300], message=_stk_said(request.client, code))
        return inbox_mark(inbox.pk, CallbackInbox.Status.PROCESSED, f"Failed: {code}")
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
        result_desc=str(callback.get("ResultDesc", ""))[:300], message=_said(request.client, MSG_PAID, receipt=receipt))
    note = "" if amount == request.amount else f"Paid {amount}, asked {request.amount}"
    return inbox_mark(inbox.pk, CallbackInbox.Status.PROCESSED if recorded.created else CallbackInbox.Status.DUPLICATE,
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


def stk_query_stale(*, now: datetime | None = None) -> int:
    """Pushes with no result after STK_QUERY_AFTER_SECONDS: ask Daraja (STK query). A push
    unanswered for a day is closed as failed."""
    now = now or timezone.now()
    cfg = PaymentSettings.load()
    stale = PaymentRequest.objects.filter(
        channel=PaymentRequest.Channel.STK, status=PaymentRequest.Status.PENDING,
        created__lt=now - timedelta(seconds=settings.STK_QUERY_AFTER_SECONDS)).exclude(reference__startswith="new-")
    asked = 0
    for request in stale.filter(created__lt=now - timedelta(days=1)).select_related("client"):
        PaymentRequest.objects.filter(pk=request.pk, status=PaymentRequest.Status.PENDING).update(
            status=PaymentRequest.Status.FAILED, message=_said(request.client, MSG_NO_ANSWER))
    if not cfg.mpesa_ready:
        return 0
    config = daraja.Config.of(cfg)
    recently = now - timedelta(seconds=60)
    for request in stale.filter(created__gte=now - timedelta(days=1)).exclude(queried_at__gt=recently).select_related("client")[:200]:
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
                update.update(status=PaymentRequest.Status.CONFIRMED, message=_said(request.client, MSG_CONFIRMED))
            else:
                update.update(status=PaymentRequest.Status.FAILED, message=_stk_said(request.client, code))
        # Only a still-pending request changes: a callback that landed meanwhile wins.
        PaymentRequest.objects.filter(pk=request.pk, status=PaymentRequest.Status.PENDING).update(**update)
    return asked

