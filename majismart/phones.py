"""Kenyan phone numbers: accepted as 07…, 01…, 2547…, +2547… (spaces allowed), kept as E.164."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError

MSG_PHONE_INVALID = "Enter a valid Kenyan phone number, e.g. 0712 345 678 or +254712345678."


def normalize_phone(value: str) -> str:
    raw = "".join((value or "").split())
    if not raw:
        return ""
    if raw.startswith("254"):
        raw = "+" + raw
    try:
        number = phonenumbers.parse(raw, "KE")
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(MSG_PHONE_INVALID, code="invalid") from exc
    if number.country_code != 254 or not phonenumbers.is_valid_number(number):
        raise ValidationError(MSG_PHONE_INVALID, code="invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
