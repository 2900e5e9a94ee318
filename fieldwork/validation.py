"""The checks of what people send (API bodies, pages' forms): one cleaner per input, returning
(cleaned values, {field: [messages]})."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from clients.models import Client
from fieldwork.models import ServiceRequest

MSG_REQUIRED = "This field is required."
MSG_CLIENT = "No client with id {value}."
MSG_KIND = "Choose one of: {choices}."
MSG_TOO_LONG = "At most {n} characters."
MSG_DATETIME = "Enter a date and time (ISO 8601, e.g. 2026-11-23T10:30:00+03:00)."
MAX_DESCRIPTION = 2000
MAX_NOTE = 1000


def _text(raw: dict, name: str, errors: dict, *, required: bool, limit: int) -> str:
    value = raw.get(name)
    value = "" if value is None else str(value).strip()
    if required and not value:
        errors[name] = [MSG_REQUIRED]
    elif len(value) > limit:
        errors[name] = [MSG_TOO_LONG.format(n=limit)]
    return value


def _choice(raw: dict, name: str, choices: list[str], errors: dict, default: str = "") -> str:
    value = str(raw.get(name) or default).strip()
    if not value:
        errors[name] = [MSG_REQUIRED]
    elif value not in choices:
        errors[name] = [MSG_KIND.format(choices=", ".join(choices))]
    return value


def clean_request(raw: dict[str, Any], *, channel_default: str) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """{client (id), kind, description, channel (optional)}."""
    errors: dict[str, list[str]] = {}
    client = None
    value = raw.get("client")
    if value in (None, ""):
        errors["client"] = [MSG_REQUIRED]
    else:
        client = Client.objects.filter(pk=int(str(value))).first() if str(value).isdigit() else None
        if client is None:
            errors["client"] = [MSG_CLIENT.format(value=value)]
    cleaned = {"client": client,
               "kind": _choice(raw, "kind", list(ServiceRequest.Kind.values), errors),
               "channel": _choice(raw, "channel", list(ServiceRequest.Channel.values), errors, channel_default),
               "description": _text(raw, "description", errors, required=True, limit=MAX_DESCRIPTION)}
    return cleaned, errors


def _moment(raw: dict, name: str, errors: dict) -> datetime | None:
    value = raw.get(name)
    if value in (None, ""):
        return None
    moment = parse_datetime(str(value)) if isinstance(value, str) else value if isinstance(value, datetime) else None
    if moment is None:
        errors[name] = [MSG_DATETIME]
        return None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def clean_completion(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """{reading, done_at (optional: now), note (optional)}; the reading itself is judged by the
    readings pipeline."""
    errors: dict[str, list[str]] = {}
    reading = raw.get("reading")
    cleaned = {"reading": "" if reading is None else str(reading).strip(), "done_at": _moment(raw, "done_at", errors),
               "note": _text(raw, "note", errors, required=False, limit=MAX_NOTE)}
    return cleaned, errors
