"""Incoming SMS keywords (English and Kiswahili, any case, extra spaces): BAL/SALIO, BILL/BILI,
READ <value>/SOMA <value> (or READ <meter> <value> with several meters), STOP, HELP/MSAADA;
anything else gets the help text. Each message is stored before it is processed (AT's `id` is
unique: a retried delivery is answered once) and answered through the one send function."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from clients.models import Client
from majismart.crypto import blind_index
from meters.models import Reading
from selfservice import services, texts
from selfservice.models import InboundSms
from selfservice.selectors import (
    active_meters,
    clients_of_phone,
    contact_for,
    language_of,
    masked,
    phone_e164,
    provider_language,
    provider_name,
)

log = logging.getLogger(__name__)

KEYWORDS = {"BAL": "balance", "SALIO": "balance", "BILL": "bill", "BILI": "bill", "READ": "read",
            "SOMA": "read", "STOP": "stop", "HELP": "help", "MSAADA": "help"}


def parse(text: str) -> tuple[str, list[str]]:
    """(what is asked: balance, bill, read, stop or help; the words after the keyword)."""
    words = text.split()
    if not words:
        return "help", []
    return KEYWORDS.get(words[0].upper().strip(".,!"), "help"), words[1:]


def inbound_store(fields: dict[str, str]) -> tuple[InboundSms, bool]:
    """Store what AT delivered, once per AT message id; (the row, whether it is new)."""
    at_id = fields.get("id", "").strip()[:100] or f"no-id-{secrets.token_hex(8)}"
    phone = fields.get("from", "").strip()[:40]
    e164 = phone_e164(phone)
    return InboundSms.objects.get_or_create(at_id=at_id, defaults={
        "phone": e164 or phone, "phone_index": blind_index(e164) if e164 else "",
        "to": fields.get("to", "").strip()[:40], "text": fields.get("text", "")[:1000],
        "link_id": fields.get("linkId", "").strip()[:100], "sent_at": fields.get("date", "").strip()[:40],
        "keyword": parse(fields.get("text", ""))[0]})


def inbound_process(inbound_id: int) -> str:
    """Answer one stored message (once: the row is claimed under a lock)."""
    with transaction.atomic():
        # Locked: a redelivered task and the sweeper must not both answer the same message.
        row = InboundSms.objects.select_for_update().filter(pk=inbound_id).first()
        if row is None or row.status != InboundSms.Status.RECEIVED:
            return "done already"
        status, note, client_id = _answer(row)
        row.status, row.note, row.client_id, row.processed_at = status, note[:200], client_id, timezone.now()
        row.save(update_fields=["status", "note", "client_id", "processed_at"])
    log.info("SMS in %s from %s: %s, %s", row.at_id[:20], masked(row.phone), row.keyword, status)
    return status


def _answer(row: InboundSms) -> tuple[str, str, int | None]:
    if not row.phone_index:
        return InboundSms.Status.IGNORED, "not a Kenyan phone number", None
    if not services.step_allowed("sms", row.phone_index):
        return InboundSms.Status.LIMITED, "too many messages from this phone", None
    clients = clients_of_phone(row.phone)
    if not clients:
        lang = provider_language()
        _reply(row, None, texts.text(lang, "sms_unknown_phone", provider=provider_name(),
                                     contact=contact_for(lang)))
        return InboundSms.Status.ANSWERED, "unknown phone", None
    keyword, args = parse(row.text)
    lang = language_of(clients)
    body = _KEYWORD_ANSWERS[keyword](clients, args, lang)
    _reply(row, clients[0].pk, body)
    return InboundSms.Status.ANSWERED, keyword, clients[0].pk


def _reply(row: InboundSms, client_id: int | None, body: str) -> None:
    services.reply_sms(key=f"sms-in:{row.pk}", phone=row.phone, client_id=client_id, body=body)


def _balance(clients: list[Client], args: list[str], lang: str) -> str:
    lines = " ".join(services.balance_text(lang, c) for c in clients)
    return texts.text(lang, "sms_balance", provider=provider_name(), lines=lines)


def _bill(clients: list[Client], args: list[str], lang: str) -> str:
    lines = " ".join(services.bill_sms_line(lang, c) for c in clients)
    return texts.text(lang, "sms_bill", provider=provider_name(), lines=lines)


def _read(clients: list[Client], args: list[str], lang: str) -> str:
    provider = provider_name()
    meters = active_meters(clients)
    if not meters:
        return texts.text(lang, "sms_no_meter", provider=provider)
    if len(args) == 1 and len(meters) > 1:
        return texts.text(lang, "sms_read_which", provider=provider, meter=meters[0].serial)
    if len(args) not in (1, 2):
        return texts.text(lang, "sms_read_bad", provider=provider)
    value = services.reading_value(args[-1])
    if value is None:
        return texts.text(lang, "sms_read_bad", provider=provider)
    if len(args) == 2:
        meter = next((m for m in meters if m.serial.upper() == args[0].upper()), None)
        if meter is None:
            return texts.text(lang, "sms_read_unknown_meter", provider=provider, meter=args[0][:20],
                              meters=", ".join(m.serial for m in meters[:5]))
    else:
        meter = meters[0]
    refused = services.reading_submit(meter=meter, value=value, source=Reading.Source.SMS, lang=lang)
    if refused:
        return texts.text(lang, "sms_read_refused", provider=provider, value=value, meter=meter.serial,
                          reason=refused)
    return texts.text(lang, "sms_read_done", provider=provider, value=value, meter=meter.serial)


def _stop(clients: list[Client], args: list[str], lang: str) -> str:
    for client in clients:
        services.announcements_stop(client=client, actor=services.ACTOR_SMS)
    return texts.text(lang, "sms_stop", provider=provider_name())


def _help(clients: list[Client], args: list[str], lang: str) -> str:
    return texts.text(lang, "sms_help", provider=provider_name())


_KEYWORD_ANSWERS = {"balance": _balance, "bill": _bill, "read": _read, "stop": _stop, "help": _help}


SWEEP_AFTER_SECONDS = 60
# When inbound_sweep() has something to do, as a condition on one schema's tables ({q}): what
# tenants.tasks.fan_out asks of every provider at once before sending the every-minute sweep.
SWEEP_DUE_SQL = ("EXISTS (SELECT 1 FROM {q}.selfservice_inboundsms s WHERE s.status = 'received' "  # noqa: S608
                 f"AND s.received < now() - make_interval(secs => {SWEEP_AFTER_SECONDS}))")


def inbound_sweep() -> int:
    """Answer the messages stored over a minute ago and never processed (their task was lost)."""
    since = timezone.now() - timedelta(seconds=SWEEP_AFTER_SECONDS)
    ids = list(InboundSms.objects.filter(status=InboundSms.Status.RECEIVED, received__lt=since)
               .order_by("id").values_list("id", flat=True)[:500])
    return sum(inbound_process(pk) == InboundSms.Status.ANSWERED for pk in ids)
