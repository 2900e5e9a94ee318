"""Writes for self-service, shared by USSD and incoming SMS: replies through the one send
function, readings through the readings pipeline, problems as service requests, payments as STK
pushes, the client's language and consent. Every step is rate-limited per phone."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation

from clients.models import Client
from clients.services import client_update
from fieldwork.models import ServiceRequest
from fieldwork.services import service_request_create
from majismart.money import kes
from meters.models import Meter
from meters.services import readings_record
from notifications.models import Channel, Consent
from notifications.services import Outgoing, consent_record, notify
from payments.collect import pay_link_url, whole_amount
from payments.models import PaymentRequest
from payments.mpesa import stk_start
from selfservice import texts
from selfservice.selectors import balance, last_bill, provider_name
from tenants.selectors import current_policy_version

log = logging.getLogger(__name__)

# Per phone: USSD steps and incoming SMS answered in a window. A session takes 3 to 6 steps; a
# phone past the limit is told to try later (USSD) or not answered (SMS, which costs money).
USSD_STEPS = 40
USSD_WINDOW = 600
SMS_ANSWERS = 10
SMS_WINDOW = 3600

PROBLEM_KINDS = (ServiceRequest.Kind.LEAK, ServiceRequest.Kind.NO_WATER, ServiceRequest.Kind.BILLING,
                 ServiceRequest.Kind.METER)
ACTOR_USSD, ACTOR_SMS = "ussd", "sms"


def step_allowed(channel: str, phone_index: str) -> bool:
    """Count one more step of `channel` from this phone (the cache keys carry the schema);
    False once the phone has used its allowance for the window."""
    limit, window = (USSD_STEPS, USSD_WINDOW) if channel == "ussd" else (SMS_ANSWERS, SMS_WINDOW)
    key = f"selfservice:{channel}:{phone_index}"
    cache.add(key, 0, timeout=window)
    try:
        count = int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        count = 1
    return count <= limit


def reply_sms(*, key: str, phone: str, client_id: int | None, body: str) -> list[int]:
    """An answer by SMS through the one send function (delivery log, consent; never held for
    quiet hours), once per `key`."""
    return notify(event="self_service_reply", channel=Channel.SMS,
                  outgoing=[Outgoing(key=key, recipient=phone, values={"text": body}, client_id=client_id)])


def balance_text(lang: str, client: Client) -> str:
    owed = balance(client)
    key = "balance_owing" if owed > 0 else "balance_credit" if owed < 0 else "balance_zero"
    return texts.text(lang, key, account=client.account_number, balance=kes(abs(owed)))


def bill_sms_line(lang: str, client: Client) -> str:
    bill = last_bill(client)
    if bill is None:
        return texts.text(lang, "sms_no_bill", account=client.account_number)
    return texts.text(lang, "sms_bill_line", account=client.account_number, period=texts.period(lang, bill.period),
                      amount=kes(bill.total), due=texts.day(lang, bill.due_date) if bill.due_date else "-",
                      amount_due=kes(max(balance(client), Decimal(0))), pay_link=pay_link_url(client))


def reading_value(raw: str) -> str | None:
    """The number a client typed as a reading (a comma taken as the decimal point), or None."""
    value = raw.strip().replace(",", ".")
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return value if number.is_finite() and number >= 0 else None


def reading_submit(*, meter: Meter, value: str, source: str, lang: str) -> str:
    """Through the readings pipeline (validated, flagged as sent by the client); "" when it was
    kept, else the pipeline's reason, in the caller's language."""
    with translation.override(texts.lang_of(lang)):
        result = readings_record([{"meter": meter.serial, "value": value, "read_at": timezone.now()}],
                                 source=source)
    if result.errors:
        # The first sentence: what is wrong; the rest tells staff what to do about it.
        messages = [str(m).split(". ")[0].rstrip(".") + "." for msgs in result.errors[0]["errors"].values()
                    for m in msgs]
        return " ".join(messages) or "invalid reading"
    return ""


def problem_report(*, client: Client, kind: str, actor: str,
                   channel: str = ServiceRequest.Channel.USSD) -> ServiceRequest:
    """A service request for the field staff, received like the portal's (the client is told).
    Its description is for staff: in the dashboard's language, whatever the caller's."""
    return service_request_create(client=client, kind=kind, description=texts.text(texts.ENGLISH, "problem_description"),
                                  actor=actor, channel=channel)


def language_set(*, client: Client, lang: str, actor: str) -> Client:
    with transaction.atomic():
        return client_update(client=client, actor=actor, language=lang)


# Seconds between the END screen and the M-Pesa prompt: a phone shows no prompt while its USSD
# session is still open, and AT waits only a few seconds for a screen (Daraja can take longer).
PAY_AFTER_SECONDS = 3


def pay_queue(*, client: Client, phone: str, amount: int, lang: str) -> None:
    """Ask for the M-Pesa prompt once the USSD screen has gone (after commit, by Celery)."""
    from selfservice.tasks import ussd_pay

    def enqueue() -> None:
        try:
            ussd_pay.apply_async((client.pk, phone, amount, lang), countdown=PAY_AFTER_SECONDS)
        except Exception:  # noqa: BLE001 - the broker is down: the caller can dial again or pay by paybill
            log.warning("USSD payment for %s could not be queued", client.account_number, exc_info=True)

    transaction.on_commit(enqueue)


def pay_start(*, client_id: int, phone: str, amount: int, lang: str) -> PaymentRequest | None:
    """An M-Pesa prompt to this phone through the payments flow (its limits, its callback); when
    M-Pesa refuses or a limit holds, the caller is told why by SMS."""
    client = Client.objects.get(pk=client_id)
    reason = ""
    try:
        with translation.override(texts.lang_of(lang)):  # a limit's words in the caller's language
            request = stk_start(client=client, phone=phone, amount=whole_amount(amount),
                                source=PaymentRequest.Source.USSD)
    except ValidationError as exc:
        request, reason = None, mpesa_problem(exc)
    if request is not None and request.status == PaymentRequest.Status.FAILED:
        reason = request.message
    if reason:
        body = texts.text(lang, "sms_pay_failed", provider=provider_name(), reason=reason)
        reply_sms(key=f"ussd-pay:{client.pk}:{timezone.now():%Y%m%d%H%M%S%f}", phone=phone, client_id=client.pk,
                  body=body)
    return request


def announcements_stop(*, client: Client, actor: str) -> int:
    """STOP: withdraws consent for announcements, recorded as the portal records a choice."""
    return len(consent_record(client_id=client.pk, choices={Consent.Topic.MARKETING: False}, source="sms",
                              actor=actor, policy_version=current_policy_version("privacy").version))


def mpesa_problem(exc: ValidationError) -> str:
    return " ".join(str(m) for msgs in exc.message_dict.values() for m in msgs)
