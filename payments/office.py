"""Payments staff record at the office: cash, bank and cheque payments typed at the cash desk
(dashboard) or sent to POST /payments/ (API), checked here by one rule for both; they are then
recorded by payments.services.payment_record like every other payment."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from clients.models import Client
from majismart.badinput import nul_errors
from majismart.money import exponent
from payments.dates import EARLIEST_PAYMENT

MANUAL_METHODS = ("cash", "bank", "cheque")
MSG_PAID_AT_FORMAT = "Give a date and time in ISO 8601, e.g. 2026-11-02T10:30:00+03:00."
MSG_PAID_AT_FUTURE = "A payment cannot be in the future."
MSG_PAID_AT_EARLY = "A payment cannot be dated before 1 Jan 2000: check the year."
MSG_METHOD = 'Give "cash", "bank" or "cheque" (M-Pesa and card payments arrive by themselves).'
MSG_AMOUNT = "Enter an amount in KES above zero, with at most 2 decimals."
MSG_REFERENCE = "Give the receipt, bank or cheque reference."


def manual_payment_clean(data: object, *, reference_optional_for: tuple[str, ...] = (),
                         paid_at_format: str = MSG_PAID_AT_FORMAT) -> tuple[dict, dict[str, list[str]]]:
    """A cash, bank or cheque payment typed by staff (the API's POST /payments/ and the
    dashboard's cash desk): the client (of this provider), amount, method, reference and time,
    and the errors by field. `reference_optional_for`: methods whose reference may be left blank
    (the caller then makes one)."""
    if not isinstance(data, dict):
        return {}, {"detail": ["Send a JSON object."]}
    errors: dict[str, list[str]] = nul_errors({k: data.get(k) for k in ("client", "amount", "method", "reference",
                                                                         "paid_at")})
    out: dict = {}
    client_id = str(data.get("client", "") or "").strip()
    out["client"] = Client.objects.filter(pk=int(client_id)).first() if client_id.isdigit() else None
    if out["client"] is None:
        errors.setdefault("client", ["Unknown client."])
    if "amount" not in errors:  # a NUL said so already
        try:
            # "1,664.00" as typed at a counter; at most what an amount column holds (12 digits, 2 decimals).
            amount = Decimal(str(data.get("amount", "") or "").strip().replace(",", ""))
            if not amount.is_finite() or amount <= 0 or exponent(amount) < -2 or amount >= Decimal("1e10"):
                raise InvalidOperation
            out["amount"] = amount
        except InvalidOperation:
            errors["amount"] = [MSG_AMOUNT]
    if data.get("method") not in MANUAL_METHODS:
        errors.setdefault("method", [MSG_METHOD])
    out["method"] = data.get("method")
    reference = str(data.get("reference") or "").strip()
    if not reference and out["method"] not in reference_optional_for:
        errors.setdefault("reference", [MSG_REFERENCE])
    out["reference"] = reference[:64]
    raw_time = data.get("paid_at")
    paid_at: datetime | None = timezone.now()
    if raw_time and "paid_at" not in errors:
        try:
            paid_at = parse_datetime(str(raw_time))
        except ValueError:  # the right shape, but no such moment: 2024-02-30, 12:99
            paid_at = None
        if paid_at is None:
            errors["paid_at"] = [paid_at_format]
        elif timezone.is_naive(paid_at):
            paid_at = timezone.make_aware(paid_at)
        if paid_at and paid_at > timezone.now():
            errors["paid_at"] = [MSG_PAID_AT_FUTURE]
        elif paid_at and paid_at < EARLIEST_PAYMENT:
            # Year 1 would be stored, then break every page and PDF showing it in Nairobi time.
            errors["paid_at"] = [MSG_PAID_AT_EARLY]
    out["paid_at"] = paid_at
    return out, errors
