"""Reads of the message log: search by channel, status, event, dates, client, broadcast, or the
recipient's phone or email (through its blind index)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.dateparse import parse_date

from majismart.crypto import blind_index
from majismart.phones import normalize_phone
from notifications.catalog import EVENTS
from notifications.models import Channel, Message


def _recipient_index(query: str) -> str:
    query = query.strip()
    if "@" in query:
        return blind_index(query.lower())
    try:
        return blind_index(normalize_phone(query))
    except ValidationError:
        return ""


def message_search(q: dict) -> QuerySet[Message]:
    rows = Message.objects.order_by("-created", "-id")
    for name, values in (("channel", Channel.values), ("status", Message.Status.values), ("event", list(EVENTS))):
        if q.get(name) in values:
            rows = rows.filter(**{name: q[name]})
    for name, lookup in (("from", "created__date__gte"), ("to", "created__date__lte")):
        day = parse_date(q.get(name, "") or "")
        if day:
            rows = rows.filter(**{lookup: day})
    if str(q.get("client", "")).isdigit():
        rows = rows.filter(client_id=int(q["client"]))
    if q.get("broadcast", "").isdigit():
        rows = rows.filter(broadcast_id=int(q["broadcast"]))
    if q.get("q", "").strip():
        rows = rows.filter(recipient_index=_recipient_index(q["q"]))
    return rows
