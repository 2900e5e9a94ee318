"""Broadcasts: one message to a zone, a category or every client (a supply interruption, a
billing notice, an announcement), prepared in the background in chunks and sent through
notifications, which applies consent (announcements that are not about supply or billing go
only to clients who agreed) and quiet hours."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.services import audit
from clients.models import Category, Client, Zone
from majismart.tenancy import connection
from notifications.catalog import COMMON
from notifications.models import Broadcast, Channel, Message, NotificationSettings, Purpose
from notifications.services import Outgoing, channel_ready, consent_map, notify
from notifications.text import fill, placeholders_in, sms_size

CHUNK = 1000
PURPOSES = [(Purpose.SUPPLY, "Water supply (interruptions, works)"), (Purpose.BILLING, "Billing and payments"),
            (Purpose.MARKETING, "Other announcements (only clients who agreed)")]
MSG_TITLE = "Give the broadcast a title (for your records)."
MSG_CHANNEL = "Choose SMS, email or both."
MSG_SMS = "Write the SMS."
MSG_EMAIL = "Write the email's subject and text."
MSG_NOBODY = "No client matches this audience."
MSG_PLACEHOLDER = "Only {provider}, {name} and {account} can be filled in: remove {%s}."
MSG_LONG = "Keep the SMS to 6 parts at most (918 plain characters)."
MSG_OFF = "{channel} is not set up for this provider."


@dataclass
class Audience:
    zones: list[str]
    categories: list[str]
    include_disconnected: bool = False

    @classmethod
    def of(cls, data: dict) -> Audience:
        return cls(zones=sorted(set(data.get("zones") or [])), categories=sorted(set(data.get("categories") or [])),
                   include_disconnected=bool(data.get("include_disconnected")))

    def as_dict(self) -> dict:
        return {"zones": self.zones, "categories": self.categories, "include_disconnected": self.include_disconnected}

    def clients(self) -> QuerySet[Client]:
        statuses = [Client.Status.ACTIVE] + ([Client.Status.DISCONNECTED] if self.include_disconnected else [])
        qs = Client.objects.filter(status__in=statuses)
        if self.zones:
            qs = qs.filter(zone__code__in=self.zones)
        if self.categories:
            qs = qs.filter(category__code__in=self.categories)
        return qs

    def label(self) -> str:
        parts = []
        if self.zones:
            parts.append("zone " + ", ".join(Zone.objects.filter(code__in=self.zones).values_list("name", flat=True)))
        if self.categories:
            parts.append(", ".join(Category.objects.filter(code__in=self.categories).values_list("name", flat=True)))
        who = " · ".join(parts) or "every client"
        return who + (" (disconnected too)" if self.include_disconnected else "")


@dataclass
class Estimate:
    clients: int
    sms: int
    email: int
    sms_parts: int
    sms_cost: Decimal
    no_consent: int


def _clean(data: dict) -> dict[str, Any]:
    channels = [c for c in data.get("channels", []) if c in Channel.values]
    cleaned: dict[str, Any] = {"title": str(data.get("title", "")).strip()[:120], "purpose": str(data.get("purpose", "")),
               "channels": channels, "sms_text": str(data.get("sms_text", "")).replace("\r\n", "\n").strip(),
               "email_subject": str(data.get("email_subject", "")).strip()[:200],
               "email_text": str(data.get("email_text", "")).replace("\r\n", "\n").strip(),
               "audience": Audience.of(data)}
    errors: dict[str, list[str]] = {}
    cfg = NotificationSettings.load()
    if not cleaned["title"]:
        errors["title"] = [MSG_TITLE]
    if cleaned["purpose"] not in dict(PURPOSES):
        errors["purpose"] = ["Choose what the message is about."]
    if not channels:
        errors["channels"] = [MSG_CHANNEL]
    for channel in channels:
        if not channel_ready(cfg, channel):
            errors.setdefault("channels", []).append(MSG_OFF.format(channel="SMS" if channel == Channel.SMS else "Email"))
    texts = {"sms_text": cleaned["sms_text"], "email_subject": cleaned["email_subject"], "email_text": cleaned["email_text"]}
    for name, text in texts.items():
        unknown = sorted(placeholders_in(text) - set(COMMON))
        if unknown:
            errors[name] = [MSG_PLACEHOLDER % unknown[0]]
    if Channel.SMS in channels:
        if not cleaned["sms_text"]:
            errors["sms_text"] = [MSG_SMS]
        elif sms_size(fill(cleaned["sms_text"], {"provider": "x" * 30, "name": "x" * 30, "account": "x" * 10})).segments > 6:
            errors["sms_text"] = [MSG_LONG]
    if Channel.EMAIL in channels and not (cleaned["email_subject"] and cleaned["email_text"]):
        errors["email_text"] = [MSG_EMAIL]
    if not errors and not cleaned["audience"].clients().exists():
        errors["audience"] = [MSG_NOBODY]
    if errors:
        raise ValidationError(errors)
    return cleaned


def broadcast_estimate(data: dict) -> Estimate:
    """Who would receive it, and what the SMS would cost (before anything is sent)."""
    cleaned = _clean(data)
    clients = cleaned["audience"].clients()
    counts = clients.aggregate(n=Count("id"), phone=Count("id", filter=~Q(phone="")),
                               email=Count("id", filter=~Q(email="")))
    no_consent = 0
    if cleaned["purpose"] == Purpose.MARKETING:
        prefs = consent_map(clients.values_list("id", flat=True))
        no_consent = sum(1 for p in prefs.values() if not p["marketing"])
    sms = counts["phone"] if Channel.SMS in cleaned["channels"] else 0
    parts = sms_size(fill(cleaned["sms_text"], {"provider": "Provider", "name": "Client Name", "account": "ACC00000"})).segments
    cost = NotificationSettings.load().sms_cost_per_segment * parts * sms
    return Estimate(clients=counts["n"], sms=sms, email=counts["email"] if Channel.EMAIL in cleaned["channels"] else 0,
                    sms_parts=parts, sms_cost=cost.quantize(Decimal("0.01")), no_consent=no_consent)


def broadcast_create(*, data: dict, actor: object) -> Broadcast:
    """Save the broadcast and prepare it in the background (after commit); audited."""
    from clients.tasks import broadcast_prepare_task

    cleaned = _clean(data)
    audience = cleaned.pop("audience")
    with transaction.atomic():
        broadcast = Broadcast.objects.create(**cleaned, audience=audience.as_dict(), audience_label=audience.label()[:300],
                                             total=audience.clients().count(),
                                             created_by=str(getattr(actor, "email", actor) or ""))
        audit(actor=actor, action="broadcast.created", object_repr=broadcast.title, purpose=broadcast.purpose,
              channels=broadcast.channels, audience=broadcast.audience_label)
        transaction.on_commit(lambda: broadcast_prepare_task.delay(broadcast.pk))
    return broadcast


def broadcast_prepare(broadcast_id: int) -> Broadcast:
    """Make the broadcast's messages, a chunk of clients at a time (claimed by UPDATE: a second
    delivery of the task does nothing; messages are unique per broadcast and client anyway)."""
    if not Broadcast.objects.filter(pk=broadcast_id, status=Broadcast.Status.QUEUED).update(status=Broadcast.Status.RUNNING):
        return Broadcast.objects.get(pk=broadcast_id)
    broadcast = Broadcast.objects.get(pk=broadcast_id)
    try:
        _prepare(broadcast)
    except Exception as exc:
        Broadcast.objects.filter(pk=broadcast_id).update(status=Broadcast.Status.FAILED, error=str(exc)[:300],
                                                         finished=timezone.now())
        raise
    Broadcast.objects.filter(pk=broadcast_id).update(status=Broadcast.Status.DONE, finished=timezone.now())
    return Broadcast.objects.get(pk=broadcast_id)


def _prepare(broadcast: Broadcast) -> None:
    cfg = NotificationSettings.load()
    clients = Audience.of(broadcast.audience).clients().order_by("id")
    last, done = 0, 0
    provider = getattr(connection.tenant, "name", "")
    while True:
        chunk = list(clients.filter(id__gt=last)[:CHUNK])
        if not chunk:
            return
        with transaction.atomic():
            for channel, address in ((Channel.SMS, "phone"), (Channel.EMAIL, "email")):
                if channel not in broadcast.channels:
                    continue
                body = broadcast.sms_text if channel == Channel.SMS else broadcast.email_text
                subject = broadcast.email_subject if channel == Channel.EMAIL else ""
                outgoing = [Outgoing(key=f"{broadcast.pk}:{c.pk}", recipient=getattr(c, address), client_id=c.pk,
                                     values={"provider": provider, "name": c.full_name, "account": c.account_number})
                            for c in chunk if getattr(c, address)]
                notify(event="broadcast", channel=channel, outgoing=outgoing, purpose=broadcast.purpose,
                       broadcast_id=broadcast.pk, body=body, subject=subject, cfg=cfg)
        last, done = chunk[-1].pk, done + len(chunk)
        Broadcast.objects.filter(pk=broadcast.pk).update(prepared=done)


def broadcast_progress(broadcast: Broadcast) -> dict[str, object]:
    """For the progress bar: preparing (clients done of total), then the messages' outcomes."""
    counts = dict(Message.objects.filter(broadcast=broadcast).values("status").annotate(n=Count("id"))
                  .values_list("status", "n"))
    messages = sum(counts.values())
    finished = sum(counts.get(s, 0) for s in (Message.Status.SENT, Message.Status.DELIVERED, Message.Status.FAILED,
                                               Message.Status.SKIPPED))
    if broadcast.status in (Broadcast.Status.QUEUED, Broadcast.Status.RUNNING):
        percent = int(50 * broadcast.prepared / broadcast.total) if broadcast.total else 0
        state = "preparing"
    else:
        percent = 50 + int(50 * finished / messages) if messages else 100
        state = "sending" if finished < messages else "done"
    return {"status": broadcast.status, "state": state, "percent": percent, "prepared": broadcast.prepared,
            "total": broadcast.total, "messages": messages, "counts": counts}
