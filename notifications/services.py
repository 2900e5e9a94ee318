"""Writes for notifications: making messages (consent, quiet hours, one per dedup key), sending
them (Africa's Talking, Django's email backend) with retries, delivery reports, templates,
settings and contact preferences. Every SMS and email of the product goes through `notify`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from email.utils import formataddr, parseaddr
from typing import cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from accounts.languages import chosen_or_default
from accounts.services import audit
from majismart.crypto import blind_index
from majismart.tenancy import connection
from notifications import africastalking
from notifications.catalog import EVENTS, SAMPLE, Event
from notifications.models import (
    DEFAULT_TOPICS,
    Channel,
    Consent,
    DeliveryReport,
    Message,
    MessageTemplate,
    NotificationSettings,
    Purpose,
)
from notifications.text import fill, placeholders_in, sms_size

log = logging.getLogger(__name__)

SEND_BATCH = 100  # messages per sending task
SMS_GROUP = 100  # numbers per Africa's Talking request when the text is the same (broadcasts)
HTTP_THREADS = 8  # requests in flight per sending task
MAX_ATTEMPTS = 5
BACKOFF_MINUTES = (1, 5, 15, 60)  # after the 1st, 2nd, 3rd and 4th failed attempt
STUCK_AFTER = timedelta(minutes=15)  # a message claimed this long ago by a worker that died
LOST_AFTER = timedelta(minutes=10)  # queued this long ago and never claimed: its task was lost
# When sweep() has something to do, as a condition on one schema's tables ({q}): what
# tenants.tasks.fan_out asks of every provider at once before sending the every-minute sweep.
SWEEP_DUE_SQL = (
    "EXISTS (SELECT 1 FROM {q}.notifications_message m WHERE m.status = 'queued' AND (m.next_attempt_at <= now() "  # noqa: S608
    f"OR (m.next_attempt_at IS NULL AND m.updated < now() - make_interval(secs => {LOST_AFTER.total_seconds()})))) "
    "OR EXISTS (SELECT 1 FROM {q}.notifications_message m WHERE m.status = 'sending' "
    f"AND m.updated < now() - make_interval(secs => {STUCK_AFTER.total_seconds()}))")

MSG_NO_PHONE = "No phone number on the account."
MSG_NO_EMAIL = "No email address on the account."
MSG_NO_SMS = "The client asked not to receive SMS."
MSG_NO_MAIL = "The client asked not to receive email."
MSG_NO_MARKETING = "The client has not agreed to other announcements."
MSG_QUIET = "Held for quiet hours until {until:%H:%M}."
MSG_RETRY = "Attempt {n} failed: {why} Trying again at {at:%H:%M}."
MSG_GAVE_UP = "Gave up after {n} attempts: {why}"
MSG_SMS_OFF = "SMS is not set up for this provider."
MSG_UNKNOWN_PLACEHOLDER = "Unknown placeholder {{{name}}}. Use: {allowed}."
MSG_SMS_TOO_LONG = "Keep an SMS to 6 parts at most (918 plain characters)."
MSG_SUBJECT = "An email needs a subject."
MSG_BODY = "Write the message."



@dataclass(frozen=True)
class Attachment:
    """How an app attaches its documents to emails: `make(id)` gives (filename, bytes, MIME
    type); `ready(id)` says whether it is made already (a run's bills are rendered in batches:
    their emails wait for them rather than render each alone)."""

    make: Callable[[int], tuple[str, bytes, str]]
    ready: Callable[[int], bool] = lambda _id: True


# Attachments named on a message ({"kind": "invoice_pdf", "id": 7}) are made at send time by the
# app that owns them (billing: invoices, payments: receipts), registered in their ready().
ATTACHMENTS: dict[str, Attachment] = {}
WAIT_FOR_ATTACHMENTS = timedelta(hours=3)  # then the email makes its own (slower, but it goes)
ATTACHMENT_RECHECK = timedelta(minutes=5)
MSG_WAITING = "Waiting for its attachment to be made."


@dataclass
class Outgoing:
    """One message to make: who it is about, where it goes, and the values of its placeholders.
    `key` makes it unique within the event and channel (e.g. "invoice:123")."""

    key: str
    recipient: str
    values: dict[str, str]
    client_id: int | None = None
    attachments: list[dict] = field(default_factory=list)
    # The recipient's language; "" finds it: the client's (CLIENT_LANGUAGES), else the provider's default.
    language: str = ""


# How this app, below clients, learns the language each client reads ("" for the provider's
# default): registered by clients' AppConfig.ready.
CLIENT_LANGUAGES: list[Callable[[list[int]], dict[int, str]]] = []


def recipient_languages(outgoing: list[Outgoing]) -> list[str]:
    """Each outgoing message's language, in order: its own, its client's, else the provider's default."""
    ids = [o.client_id for o in outgoing if not o.language and o.client_id is not None]
    chosen: dict[int, str] = {}
    for resolve in CLIENT_LANGUAGES:
        if ids:
            chosen.update(resolve(ids))
    return [chosen_or_default(o.language or (chosen.get(o.client_id, "") if o.client_id is not None else ""))
            for o in outgoing]


# --- templates ---------------------------------------------------------------------------------
def template_text(event: Event, channel: str, overrides: dict | None = None, language: str = "en") -> tuple[str, str]:
    """(subject, body) of an event's message on a channel in a language: the provider's wording,
    or the default (the catalogue's, translated)."""
    row = (overrides if overrides is not None else _overrides()).get((event.key, channel, language))
    if row is not None:
        return row
    return event.default(channel, language)


def _overrides() -> dict[tuple[str, str, str], tuple[str, str]]:
    return {(t.event, t.channel, t.language): (t.subject, t.body) for t in MessageTemplate.objects.all()}


def _validate_template(event: Event, channel: str, subject: str, body: str) -> None:
    errors: dict[str, list[str]] = {}
    allowed = event.allowed()
    listed = ", ".join(f"{{{p}}}" for p in sorted(allowed))
    for name, text in (("subject", subject), ("body", body)):
        unknown = sorted(placeholders_in(text) - allowed)
        if unknown:
            errors[name] = [MSG_UNKNOWN_PLACEHOLDER.format(name=unknown[0], allowed=listed)]
    if not body.strip():
        errors.setdefault("body", []).append(MSG_BODY)
    if channel == Channel.SMS and sms_size(fill(body, SAMPLE)).segments > 6:
        errors.setdefault("body", []).append(MSG_SMS_TOO_LONG)
    if channel == Channel.EMAIL and not subject.strip():
        errors["subject"] = [MSG_SUBJECT]
    if errors:
        raise ValidationError(errors)


def template_save(*, event: str, channel: str, subject: str, body: str, actor: object,
                  language: str = "en") -> MessageTemplate:
    ev = EVENTS[event]
    subject, body = subject.strip(), body.replace("\r\n", "\n").strip()
    _validate_template(ev, channel, subject, body)
    row, _ = MessageTemplate.objects.update_or_create(
        event=event, channel=channel, language=language,
        defaults={"subject": subject if channel == Channel.EMAIL else "", "body": body,
                  "updated_by": str(getattr(actor, "email", actor) or "")})
    audit(actor=actor, action="notifications.template_changed", object_repr=f"{event} {channel} {language}")
    return row


def template_reset(*, event: str, channel: str, actor: object, language: str = "en") -> None:
    if MessageTemplate.objects.filter(event=event, channel=channel, language=language).delete()[0]:
        audit(actor=actor, action="notifications.template_reset", object_repr=f"{event} {channel} {language}")


def preview(*, event: str, channel: str, subject: str, body: str, provider_name: str) -> dict[str, object]:
    """What a template looks like with sample values, and for SMS its size and cost."""
    known = EVENTS.get(event)
    values = {**SAMPLE, **(known.sample if known else {}), "provider": provider_name}  # an event's own examples first
    text = fill(body, values)
    result: dict[str, object] = {"subject": fill(subject, values), "text": text}
    if channel == Channel.SMS:
        size = sms_size(text)
        result.update(size=size, cost=size.cost(NotificationSettings.load().sms_cost_per_segment))
    return result


# --- consent -----------------------------------------------------------------------------------
def consent_map(client_ids: Iterable[int]) -> dict[int, dict[str, bool]]:
    """Each client's current choice per topic (the latest record), defaults filled in."""
    ids = sorted({i for i in client_ids if i is not None})
    found: dict[int, dict[str, bool]] = {i: dict(DEFAULT_TOPICS) for i in ids}
    rows = (Consent.objects.filter(client_id__in=ids).order_by("client_id", "topic", "-recorded_at", "-id")
            .distinct("client_id", "topic").values_list("client_id", "topic", "granted"))
    for client_id, topic, granted in rows:
        found[client_id][topic] = granted
    return found


@transaction.atomic
def consent_record(*, client_id: int, choices: dict[str, bool], source: str, actor: object,
                   policy_version: str = "") -> list[Consent]:
    """Append the choices that differ from the current ones; audited."""
    current = consent_map([client_id])[client_id]
    changed = [Consent(client_id=client_id, topic=topic, granted=bool(granted), source=source,
                       policy_version=policy_version, recorded_by=str(getattr(actor, "email", actor) or ""))
               for topic, granted in choices.items() if topic in DEFAULT_TOPICS and current[topic] != bool(granted)]
    Consent.objects.bulk_create(changed)
    if changed:
        audit(actor=actor, action="notifications.consent_changed", object_repr=f"client {client_id}",
              target=("client", client_id), source=source, choices={c.topic: c.granted for c in changed})
    return changed


def _refusal(purpose: str, channel: str, prefs: dict[str, bool] | None) -> str:
    if purpose == Purpose.ACCOUNT or prefs is None:
        return ""
    if channel == Channel.SMS and not prefs[Consent.Topic.SMS]:
        return MSG_NO_SMS
    if channel == Channel.EMAIL and not prefs[Consent.Topic.EMAIL]:
        return MSG_NO_MAIL
    if purpose == Purpose.MARKETING and not prefs[Consent.Topic.MARKETING]:
        return MSG_NO_MARKETING
    return ""


# --- quiet hours -------------------------------------------------------------------------------
def quiet_until(cfg: NotificationSettings, now: datetime | None = None) -> datetime | None:
    """When the provider's quiet hours end, if `now` is inside them (Nairobi time)."""
    if not cfg.quiet_hours or cfg.quiet_start == cfg.quiet_end:
        return None
    local = timezone.localtime(now or timezone.now())
    t, start, end = local.time(), cfg.quiet_start, cfg.quiet_end
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    until = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return until if until > local else until + timedelta(days=1)


# --- making messages ---------------------------------------------------------------------------
def channel_ready(cfg: NotificationSettings, channel: str) -> bool:
    return cfg.sms_ready if channel == Channel.SMS else cfg.email_enabled


def notify(*, event: str, channel: str, outgoing: list[Outgoing], purpose: str = "", broadcast_id: int | None = None,
           body: str | None = None, subject: str | None = None, cfg: NotificationSettings | None = None) -> list[int]:
    """Make one message per outgoing (skipped, with the reason, when the client objected or
    there is no address), once per dedup key; SMS made in quiet hours wait for their end. The
    queued ones are handed to Celery after commit. Returns the ids queued now. Nothing is made
    for a channel the provider has not set up. `body`/`subject` replace the template (broadcasts)."""
    cfg = cfg or NotificationSettings.load()
    ev = EVENTS[event]
    purpose = purpose or ev.purpose
    if not outgoing or not channel_ready(cfg, channel):
        return []
    # Each recipient's wording in their language (a broadcast's own text is the same for all).
    overrides = _overrides()
    texts: dict[str, tuple[str, str]] = {}
    languages = recipient_languages(outgoing)
    for language in set(languages):
        default_subject, default_body = template_text(ev, channel, overrides, language)
        texts[language] = (default_subject if subject is None else subject, default_body if body is None else body)
    provider = getattr(connection.tenant, "name", "")
    for o in outgoing:  # every message may name the provider
        o.values.setdefault("provider", provider)
    prefs = consent_map(o.client_id for o in outgoing if o.client_id is not None)
    held = quiet_until(cfg) if channel == Channel.SMS and purpose != Purpose.ACCOUNT and ev.quiet_hours else None
    rows = [_message(ev, channel, purpose, o, *texts[language],
                     prefs.get(o.client_id) if o.client_id is not None else None, held, broadcast_id, language)
            for o, language in zip(outgoing, languages, strict=True)]
    Message.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    ids = list(Message.objects.filter(dedup_key__in=[r.dedup_key for r in rows], status=Message.Status.QUEUED,
                                      attempts=0, next_attempt_at__isnull=True).values_list("id", flat=True))
    transaction.on_commit(lambda: queue_sending(ids))
    return ids


def _message(ev: Event, channel: str, purpose: str, o: Outgoing, subject: str, body: str,
             prefs: dict[str, bool] | None, held: datetime | None, broadcast_id: int | None,
             language: str = "") -> Message:
    text = fill(body, o.values)
    recipient = o.recipient.strip()
    note = _refusal(purpose, channel, prefs) or ("" if recipient else MSG_NO_PHONE if channel == Channel.SMS else MSG_NO_EMAIL)
    msg = Message(channel=channel, event=ev.key, purpose=purpose, client_id=o.client_id, recipient=recipient,
                  recipient_index=blind_index(recipient) if recipient else "", text=text,
                  subject=fill(subject, o.values)[:200] if channel == Channel.EMAIL else "",
                  attachments=o.attachments if channel == Channel.EMAIL else [],
                  segments=sms_size(text).segments if channel == Channel.SMS else 0,
                  quiet_hours=channel == Channel.SMS and purpose != Purpose.ACCOUNT and ev.quiet_hours,
                  dedup_key=f"{ev.key}:{channel}:{o.key}"[:160], broadcast_id=broadcast_id, language=language)
    if note:
        msg.status, msg.note = Message.Status.SKIPPED, note
    elif held is not None:
        msg.next_attempt_at, msg.note = held, MSG_QUIET.format(until=held)
    return msg


def queue_sending(ids: list[int]) -> None:
    from notifications.tasks import send_messages_task

    for start in range(0, len(ids), SEND_BATCH):
        send_messages_task.delay(ids[start:start + SEND_BATCH])


# --- sending -----------------------------------------------------------------------------------
def _claim(ids: list[int] | None, now: datetime, limit: int = SEND_BATCH) -> list[Message]:
    """Take messages that are due for this worker alone (an UPDATE: a redelivered or duplicate
    task finds them taken)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE notifications_message SET status = 'sending', updated = %s "  # noqa: S608 - identifiers from our code; values are bound parameters
            "WHERE id IN (SELECT id FROM notifications_message WHERE status = 'queued' "
            "  AND (next_attempt_at IS NULL OR next_attempt_at <= %s) "
            + ("AND id = ANY(%s) " if ids is not None else "") +
            "  ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id",
            [now, now, *([ids] if ids is not None else []), limit])
        claimed = [row[0] for row in cursor.fetchall()]
    return list(Message.objects.filter(id__in=claimed).order_by("id"))


def send_messages(ids: list[int] | None = None, *, now: datetime | None = None) -> dict[str, int]:
    """Send the given queued messages (or any that are due), each once, recording the outcome."""
    now = now or timezone.now()
    claimed = _claim(ids, now)
    if not claimed:
        return {}
    cfg = NotificationSettings.load()
    sms = [m for m in claimed if m.channel == Channel.SMS]
    emails = [m for m in claimed if m.channel == Channel.EMAIL]
    if sms:
        _send_sms(cfg, sms, now)
    if emails:
        _send_emails(cfg, emails, now)
    Message.objects.bulk_update(claimed, ["status", "note", "attempts", "next_attempt_at", "provider_message_id",
                                          "cost", "segments", "sent_at", "updated"])
    counts: dict[str, int] = defaultdict(int)
    for m in claimed:
        counts[m.status] += 1
    return dict(counts)


def _failed(m: Message, why: str, now: datetime, *, retry: bool) -> None:
    m.attempts += 1
    m.updated = now
    if retry and m.attempts < MAX_ATTEMPTS:
        m.status = Message.Status.QUEUED
        m.next_attempt_at = now + timedelta(minutes=BACKOFF_MINUTES[m.attempts - 1])
        m.note = MSG_RETRY.format(n=m.attempts, why=why, at=timezone.localtime(m.next_attempt_at))[:300]
    else:
        m.status = Message.Status.FAILED
        m.next_attempt_at = None
        m.note = (MSG_GAVE_UP.format(n=m.attempts, why=why) if retry else why)[:300]


def _sent(m: Message, now: datetime, provider_id: str = "", cost: Decimal | None = None, parts: int = 0) -> None:
    m.attempts += 1
    m.status, m.note, m.next_attempt_at, m.sent_at, m.updated = Message.Status.SENT, "", None, now, now
    m.provider_message_id = provider_id[:80]
    if cost is not None:
        m.cost = cost
    if parts:
        m.segments = parts


def _groups(messages: list[Message]) -> list[list[Message]]:
    """Messages with the same text go in one request (a broadcast), each number once per request."""
    by_text: dict[str, list[list[Message]]] = defaultdict(list)
    for m in messages:
        groups = by_text[m.text]
        target = next((g for g in groups if len(g) < SMS_GROUP and all(x.recipient != m.recipient for x in g)), None)
        if target is None:
            groups.append(target := [])
        target.append(m)
    return [g for groups in by_text.values() for g in groups]


def _send_sms(cfg: NotificationSettings, messages: list[Message], now: datetime) -> None:
    held = quiet_until(cfg, now)
    due = []
    for m in messages:
        if m.quiet_hours and held is not None:
            m.status, m.next_attempt_at, m.note, m.updated = Message.Status.QUEUED, held, MSG_QUIET.format(until=held), now
        elif not cfg.sms_ready:
            _failed(m, MSG_SMS_OFF, now, retry=False)
        else:
            due.append(m)
    groups = _groups(due)

    def request(group: list[Message]) -> list[africastalking.Recipient] | africastalking.SmsError:
        try:
            return africastalking.send(environment=cfg.at_environment, username=cfg.at_username,
                                       api_key=cfg.at_api_key, sender_id=cfg.at_sender_id,
                                       to=[m.recipient for m in group], message=group[0].text)
        except africastalking.SmsError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=min(HTTP_THREADS, max(len(groups), 1))) as pool:
        answers = list(pool.map(request, groups))
    for group, answer in zip(groups, answers, strict=True):
        if isinstance(answer, africastalking.SmsError):
            for m in group:
                _failed(m, str(answer), now, retry=answer.transient)
            continue
        by_number = {r.number: r for r in answer}
        for m in group:
            r = by_number.get(m.recipient)
            if r is None:
                _failed(m, "Africa's Talking did not answer for this number.", now, retry=True)
            elif r.accepted:
                _sent(m, now, r.message_id, r.cost, r.parts)
            else:
                _failed(m, r.explanation, now, retry=r.retryable)


def _sender(cfg: NotificationSettings) -> tuple[str, list[str]]:
    tenant = connection.tenant
    name = cfg.email_from_name or getattr(tenant, "name", "") or "MajiSmart"
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    reply_to = cfg.email_reply_to or getattr(tenant, "contact_email", "")
    return formataddr((name, address)), [reply_to] if reply_to else []


def email_html(text: str, subject: str, language: str = "") -> str:
    with translation.override(language or settings.LANGUAGE_CODE):  # the frame in the message's language
        return render_to_string("notifications/email.html", {"text": text, "subject": subject,
                                                             "provider": connection.tenant})


def _email(m: Message, sender: str, reply_to: list[str], text: str | None = None) -> EmailMultiAlternatives:
    body = m.text if text is None else text
    mail = EmailMultiAlternatives(subject=m.subject, body=body, from_email=sender, to=[m.recipient],
                                  reply_to=reply_to, headers={"X-MajiSmart-Message": str(m.pk)})
    mail.attach_alternative(email_html(body, m.subject, m.language), "text/html")
    for item in m.attachments:
        filename, content, mimetype = ATTACHMENTS[item["kind"]].make(int(item["id"]))
        mail.attach(filename, content, mimetype)
    return mail


def _attachments_ready(m: Message) -> bool:
    try:
        return all(ATTACHMENTS[item["kind"]].ready(int(item["id"])) for item in m.attachments)
    except KeyError:
        return True  # an unknown kind fails when the email is made, with the reason


def _send_emails(cfg: NotificationSettings, messages: list[Message], now: datetime) -> None:
    due = []
    for m in messages:
        if now - m.created < WAIT_FOR_ATTACHMENTS and not _attachments_ready(m):
            m.status, m.next_attempt_at, m.note, m.updated = Message.Status.QUEUED, now + ATTACHMENT_RECHECK, MSG_WAITING, now
        else:
            due.append(m)
    if not due:
        return
    sender, reply_to = _sender(cfg)
    backend = get_connection(fail_silently=False)
    try:
        backend.open()
    except Exception as exc:  # noqa: BLE001 - the mail server is down: every email waits
        log.warning("email backend unavailable: %s", exc)
        for m in due:
            _failed(m, f"The email could not be sent ({type(exc).__name__}).", now, retry=True)
        return
    try:
        for m in due:
            try:
                mail = _email(m, sender, reply_to)
                backend.send_messages([mail])
            except Exception as exc:  # noqa: BLE001 - any backend or attachment failure: retry later
                log.warning("email %s failed: %s", m.pk, exc)
                _failed(m, f"The email could not be sent ({type(exc).__name__}).", now, retry=True)
                continue
            status = getattr(mail, "anymail_status", None)  # django-anymail tells the ESP's id
            _sent(m, now, str(getattr(status, "message_id", "") or ""))
    finally:
        backend.close()


def send_now(*, event: str, channel: str, outgoing: Outgoing, secret_values: dict[str, str]) -> Message:
    """Send one account message at once, in this request (password resets, registration codes):
    the log keeps the text without `secret_values` (a reset link or a code in the log would let
    staff take the account)."""
    cfg = NotificationSettings.load()
    ev = EVENTS[event]
    language = recipient_languages([outgoing])[0]
    subject, body = template_text(ev, channel, language=language)
    kept = {**outgoing.values, **{k: "[removed from the log]" for k in secret_values}}
    msg = _message(ev, channel, Purpose.ACCOUNT, Outgoing(outgoing.key, outgoing.recipient, kept, outgoing.client_id),
                   subject, body, None, None, None, language)
    msg.dedup_key = f"{msg.dedup_key}:{timezone.now().timestamp():.6f}"[:160]
    now = timezone.now()
    if channel == Channel.EMAIL:
        sender, reply_to = _sender(cfg)
        try:
            with get_connection(fail_silently=False) as backend:
                backend.send_messages([_email(msg, sender, reply_to, fill(body, {**outgoing.values, **secret_values}))])
            _sent(msg, now)
        except Exception as exc:  # noqa: BLE001 - the person is told; the log says why
            log.warning("account email failed: %s", exc)
            _failed(msg, f"The email could not be sent ({type(exc).__name__}).", now, retry=False)
    elif msg.status == Message.Status.QUEUED:
        # The phone gets the whole text; the log keeps it without the secrets. Never retried
        # later (a retry would send the logged text): the person asks again.
        logged = msg.text
        msg.text = fill(body, {**outgoing.values, **secret_values})
        _send_sms(cfg, [msg], now)
        msg.text = logged
        if msg.status == Message.Status.QUEUED:
            msg.status, msg.next_attempt_at = Message.Status.FAILED, None
    msg.save()
    return msg


def sweep(*, now: datetime | None = None) -> int:
    """Hand to Celery the messages whose time has come (quiet hours over, a retry due) and those
    whose task was lost (queued LOST_AFTER ago and never claimed), and free messages a dead worker
    had claimed. Marking them handed over (next_attempt_at cleared, updated now) in the same
    statement keeps a backlog in the broker from being queued again every minute."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE notifications_message SET status = 'queued', next_attempt_at = %s "
                       "WHERE status = 'sending' AND updated < %s", [now, now - STUCK_AFTER])
        cursor.execute(
            "UPDATE notifications_message SET next_attempt_at = NULL, updated = %s WHERE id IN ("
            "  SELECT id FROM notifications_message WHERE status = 'queued' AND (next_attempt_at <= %s"
            "    OR (next_attempt_at IS NULL AND updated < %s)) ORDER BY id LIMIT 20000) RETURNING id",
            [now, now, now - LOST_AFTER])
        ids = sorted(row[0] for row in cursor.fetchall())
    queue_sending(ids)
    return len(ids)


# --- delivery reports --------------------------------------------------------------------------
DLR_FINAL_FAILED = {"Failed", "Rejected", "Expired"}
FAILURE_TEXT = {
    "InsufficientCredit": "The subscriber has too little airtime for this message.",
    "InvalidLinkId": "Invalid link id.",
    "UserIsInactive": "The number is inactive.",
    "UserInBlackList": "The subscriber has blocked messages from this sender.",
    "UserAccountSuspended": "The subscriber's line is suspended.",
    "NotNetworkSubcriber": "The number is not on this network.",
    "UserNotSubscribedToProduct": "The subscriber is not subscribed.",
    "UserDoesNotExist": "The number does not exist.",
    "DeliveryFailure": "The network could not deliver it.",
    "DoNotDisturbRejection": "The number is on the Do-Not-Disturb list.",
}


def delivery_report_receive(*, fields: dict[str, str], raw: str, now: datetime | None = None) -> DeliveryReport:
    """Keep an Africa's Talking delivery report, then apply it to its message. Repeated or late
    reports change nothing once a message is delivered or has failed for good. `now`: when it
    arrived (default now; seed_demo replays its year)."""
    provider_id = fields.get("id", "")[:80]
    report = DeliveryReport.objects.create(body=raw, provider_message_id=provider_id,
                                           status=fields.get("status", "")[:30],
                                           failure_reason=fields.get("failureReason", "")[:60])
    msg = Message.objects.filter(channel=Channel.SMS, provider_message_id=provider_id).first() if provider_id else None
    if msg is None:
        return report
    DeliveryReport.objects.filter(pk=report.pk).update(message=msg)
    now = now or timezone.now()
    changes: dict[str, object] = {"network_code": fields.get("networkCode", "")[:10]}
    if msg.status in (Message.Status.SENT, Message.Status.SENDING, Message.Status.QUEUED):
        if report.status == "Success":
            changes.update(status=Message.Status.DELIVERED, delivered_at=now, note="")
        elif report.status in DLR_FINAL_FAILED:
            reason = FAILURE_TEXT.get(report.failure_reason, report.failure_reason or report.status)
            changes.update(status=Message.Status.FAILED, note=f"Not delivered: {reason}"[:300])
        else:
            changes.update(note=f"Network status: {report.status}"[:300])
    Message.objects.filter(pk=msg.pk).update(updated=now, **changes)
    return report


# --- settings ----------------------------------------------------------------------------------
SECRET_FIELDS = ("at_api_key",)
MSG_DAYS = "List whole days from 1 to 60, separated by commas (e.g. 3 or 1, 7)."
MSG_SENDER = "A sender ID is up to 11 letters or digits (as registered with Africa's Talking)."
MSG_USERNAME = "Enter your Africa's Talking app username (\"sandbox\" for the sandbox)."


def _days(raw: str, errors: dict, name: str) -> list[int]:
    parts = [p.strip() for p in raw.replace(";", ",").split(",") if p.strip()]
    if not all(p.isdigit() and 1 <= int(p) <= 60 for p in parts):
        errors[name] = [MSG_DAYS]
        return []
    return sorted({int(p) for p in parts})


def _time(raw: str, errors: dict, name: str) -> time | None:
    try:
        return time.fromisoformat(raw.strip())
    except ValueError:
        errors[name] = ["Enter a time like 21:00."]
        return None


def settings_update(*, cfg: NotificationSettings, data: object, actor: object) -> NotificationSettings:
    """Save the SMS and email settings form: the API key left empty keeps the saved one and is
    never shown back or audited by value."""
    get = data.get  # type: ignore[attr-defined]
    errors: dict[str, list[str]] = {}
    values: dict[str, object] = {
        "sms_enabled": get("sms_enabled") in ("on", "true", "1"),
        "email_enabled": get("email_enabled") in ("on", "true", "1"),
        "quiet_hours": get("quiet_hours") in ("on", "true", "1"),
        "at_username": str(get("at_username", "") or "").strip(),
        "at_sender_id": str(get("at_sender_id", "") or "").strip(),
        "email_from_name": str(get("email_from_name", "") or "").strip()[:100],
        "email_reply_to": str(get("email_reply_to", "") or "").strip(),
    }
    env = str(get("at_environment", cfg.at_environment))
    if env not in NotificationSettings.Environment.values:
        errors["at_environment"] = ["Choose one of the options."]
    values["at_environment"] = env
    zero_bill = str(get("zero_bill_notice", cfg.zero_bill_notice))
    if zero_bill not in NotificationSettings.ZeroBill.values:
        errors["zero_bill_notice"] = ["Choose one of the options."]
    values["zero_bill_notice"] = zero_bill
    if values["at_sender_id"] and not (str(values["at_sender_id"]).isalnum() and len(str(values["at_sender_id"])) <= 11):
        errors["at_sender_id"] = [MSG_SENDER]
    if values["at_username"] and (len(str(values["at_username"])) > 100 or " " in str(values["at_username"])):
        errors["at_username"] = [MSG_USERNAME]
    if values["email_reply_to"]:
        from django.core.validators import validate_email

        try:
            validate_email(cast(str, values["email_reply_to"]))
        except ValidationError:
            errors["email_reply_to"] = ["Enter a valid email address."]
    for name in ("quiet_start", "quiet_end"):
        values[name] = _time(str(get(name, "") or ""), errors, name)
    values["reminder_days_before"] = _days(str(get("reminder_days_before", "") or ""), errors, "reminder_days_before")
    values["reminder_days_after"] = _days(str(get("reminder_days_after", "") or ""), errors, "reminder_days_after")
    for name, low, high in (("reminder_hour", 0, 23), ("disconnection_notice_days", 0, 365)):
        raw = str(get(name, "") or "").strip()
        if not raw.isdigit() or not low <= int(raw) <= high:
            errors[name] = [f"Enter a whole number from {low} to {high}."]
        else:
            values[name] = int(raw)
    try:
        cost = Decimal(str(get("sms_cost_per_segment", "") or "").strip())
        if not cost.is_finite() or not Decimal(0) <= cost < Decimal(100):
            raise InvalidOperation
        values["sms_cost_per_segment"] = cost
    except InvalidOperation:
        errors["sms_cost_per_segment"] = ["Enter the KES price of one SMS part, e.g. 0.80."]
    key = str(get("at_api_key", "") or "").strip()
    if get("clear_at_api_key") in ("on", "true", "1"):
        values["at_api_key"] = ""
    elif key:
        if len(key) > 200 or any(ch.isspace() for ch in key):
            errors["at_api_key"] = ["Paste the API key exactly as Africa's Talking shows it."]
        values["at_api_key"] = key
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        cfg = NotificationSettings.objects.select_for_update().get(pk=cfg.pk)
        changed = sorted(name for name, value in values.items() if getattr(cfg, name) != value)
        for name in changed:
            setattr(cfg, name, values[name])
        cfg.save()
        if changed:
            audit(actor=actor, action="notifications.settings_changed", object_repr="SMS and email settings",
                  fields=changed)
    return cfg


def test_send(*, channel: str, recipient: str, actor: object) -> Message:
    """A test message to the given number or address, sent at once (no quiet hours)."""
    values = {"provider": getattr(connection.tenant, "name", "MajiSmart"), "name": "", "account": ""}
    key = f"{timezone.now().timestamp():.6f}"
    ids = notify(event="test", channel=channel, outgoing=[Outgoing(key, recipient, values)])
    audit(actor=actor, action="notifications.test_sent", object_repr=channel)
    send_messages(ids)
    return Message.objects.get(dedup_key=f"test:{channel}:{key}")
