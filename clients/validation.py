"""One cleaner for a client's fields, shared by the dashboard form, the API and CSV import, so
every path accepts and refuses the same things with the same messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from clients.models import Category, Client, Zone
from majismart.money import exponent
from majismart.phones import normalize_phone

MSG_REQUIRED = "This field is required."
MSG_NAME_LONG = "Names are at most 200 characters."
MSG_CATEGORY = "Unknown category “{value}”. Use one of: {choices}."
MSG_ZONE = "Unknown zone “{value}”."
MSG_STATUS = "Status must be one of: active, disconnected, closed."
MSG_BALANCE = "Enter an amount in KES, e.g. 1500 or -250.50 (at most 2 decimals)."
MSG_ACCOUNT_FORMAT = "Account numbers are 3–30 letters, digits, hyphens or slashes."
MSG_ACCOUNT_TAKEN = "Account number {value} is already in use."
MSG_NATIONAL_ID = "A national ID is 6–10 digits (passport numbers: letters and digits, up to 12)."

_ACCOUNT = r"[A-Za-z0-9][A-Za-z0-9/-]{2,29}"
ACCOUNT_RE = re.compile(rf"^{_ACCOUNT}$")
ACCOUNT_PATTERN = rf"^(?:{_ACCOUNT})?$"  # the API's: an account number, or nothing (one is generated)
NATIONAL_ID_RE = re.compile(r"^[A-Za-z0-9]{6,12}$")


@dataclass
class References:
    """Lookups resolved once per batch rather than once per row."""

    categories: dict[str, Category]
    zones: dict[str, Zone]

    @classmethod
    def load(cls) -> References:
        categories = {}
        for c in Category.objects.all():
            categories[c.code.lower()] = c
            categories[c.name.lower()] = c
        zones = {}
        for z in Zone.objects.all():
            zones[z.code.lower()] = z
            zones[z.name.lower()] = z
        return cls(categories=categories, zones=zones)


def parse_amount(raw: str) -> Decimal:
    text = (raw or "").replace(",", "").replace("KES", "").replace("Ksh", "").strip() or "0"
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValidationError(MSG_BALANCE) from exc
    if not value.is_finite() or exponent(value) < -2 or abs(value) >= Decimal("10000000000"):
        raise ValidationError(MSG_BALANCE)
    return value.quantize(Decimal("0.01"))


def clean_client(raw: Mapping[str, object], refs: References, *, partial: bool = False) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Returns (cleaned values, {field: [messages]}). With `partial`, absent fields are skipped."""
    out: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}

    def present(name: str) -> bool:
        return not partial or name in raw

    def text(name: str) -> str:
        value = raw.get(name)
        return "" if value is None else str(value).strip()

    def check(name: str, fn) -> None:  # type: ignore[no-untyped-def]
        if not present(name):
            return
        try:
            out[name] = fn(text(name))
        except ValidationError as exc:
            errors.setdefault(name, []).extend(exc.messages)

    def full_name(v: str) -> str:
        if not v:
            raise ValidationError(MSG_REQUIRED)
        if len(v) > 200:
            raise ValidationError(MSG_NAME_LONG)
        return " ".join(v.split())

    def email(v: str) -> str:
        if v:
            validate_email(v)
        return v.lower()

    def national_id(v: str) -> str:
        v = v.replace(" ", "")
        if v and not NATIONAL_ID_RE.match(v):
            raise ValidationError(MSG_NATIONAL_ID)
        return v.upper()

    def category(v: str) -> Category:
        found = refs.categories.get(v.lower()) if v else None
        if found is None:
            if not v:
                raise ValidationError(MSG_REQUIRED)
            choices = ", ".join(sorted({c.code for c in refs.categories.values()}))
            raise ValidationError(MSG_CATEGORY.format(value=v, choices=choices))
        return found

    def zone(v: str) -> Zone | None:
        if not v:
            return None
        found = refs.zones.get(v.lower())
        if found is None:
            raise ValidationError(MSG_ZONE.format(value=v))
        return found

    def status(v: str) -> str:
        v = v.lower() or Client.Status.ACTIVE
        if v not in Client.Status.values:
            raise ValidationError(MSG_STATUS)
        return v

    def account(v: str) -> str:
        if v and not ACCOUNT_RE.match(v):
            raise ValidationError(MSG_ACCOUNT_FORMAT)
        return v.upper()

    check("full_name", full_name)
    check("phone", normalize_phone)
    check("email", email)
    check("national_id", national_id)
    check("category", category)
    check("zone", zone)
    check("location", lambda v: v[:200])
    check("status", status)
    check("opening_balance", parse_amount)
    check("account_number", account)
    return out, errors
