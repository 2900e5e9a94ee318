"""Parsing of one incoming reading (value, time, reason) and the messages every path shares."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_noop

from majismart.badinput import MSG_NUL, NUL
from majismart.money import exponent

NAIROBI = ZoneInfo("Africa/Nairobi")
# A phone's clock a little ahead of the server's is not "the future".
FUTURE_TOLERANCE = timedelta(minutes=5)

MSG_NOT_A_NUMBER = gettext_noop("Enter the meter's value as a number of m³, e.g. 1234.567.")
MSG_TOO_PRECISE = gettext_noop("Readings have at most 3 decimals (litres).")
MSG_NEGATIVE = gettext_noop("A meter reading cannot be negative.")
MSG_TOO_LARGE = gettext_noop("That value is larger than any meter dial.")
MSG_BAD_TIME = gettext_noop("Enter the reading time as a date (2026-10-31) or date and time (2026-10-31T08:30).")
MSG_FUTURE = gettext_noop("This reading is dated in the future.")
MSG_BAD_REASON = gettext_noop("Reason must be empty, “rollover” or “replacement”.")
MSG_METER_REQUIRED = gettext_noop("Say which meter (its serial number).")
MSG_UNKNOWN_METER = gettext_noop("No meter with serial “{serial}” here.")
MSG_INACTIVE_METER = gettext_noop("Meter {serial} is {status}: readings go on its replacement.")
MSG_BEFORE_INSTALL = gettext_noop("This reading is dated before the meter was installed ({installed}).")
MSG_BELOW_PREVIOUS = gettext_noop(
    "{value} is lower than the previous reading ({previous} on {when}). If the dial wrapped past "
    "zero, give the reason “rollover”; if the meter was replaced, “replacement”."
)
MSG_ABOVE_LATER = gettext_noop(
    "{value} is higher than a later reading already stored ({later} on {when}): check the date "
    "and the value."
)
MSG_CONFLICT = gettext_noop("Meter {serial} already has a different reading ({existing}) at this exact time.")


# These patterns decide validity in SQL (meters/services.py) and in Python (messages, single
# values): one definition, so the two can never disagree.
VALUE_RE = r"^[0-9]{1,9}(\.[0-9]{1,3})?$"


def _datetime_shapes() -> frozenset[str]:
    """Every accepted layout of a reading time, digits written as 0: a date, or a date and
    time with optional seconds, fraction and UTC offset. Python and SQL check the same set."""
    times = ["00:00", "00:00:00"] + [f"00:00:00.{'0' * n}" for n in range(1, 7)]
    zones = ["", "Z", "+00", "+00:00", "+0000", "-00", "-00:00", "-0000"]
    shapes = {"0000-00-00"}
    for sep in ("T", " "):
        for t in times:
            for z in zones:
                shapes.add(f"0000-00-00{sep}{t}{z}")
    return frozenset(shapes)


DATETIME_SHAPES = _datetime_shapes()
_DIGITS = str.maketrans("0123456789", "0000000000")


def datetime_shape(text: str) -> str:
    return text.translate(_DIGITS)


_VALUE = re.compile(VALUE_RE)


@dataclass
class ParsedReading:
    index: int
    serial: str
    value: Decimal | None = None
    read_at: datetime | None = None
    reason: str = ""
    note: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)


THOUSANDS_RE = r"^[0-9]{1,3}(,[0-9]{3})+(\.[0-9]{1,3})?$"
_THOUSANDS = re.compile(THOUSANDS_RE)
MSG_DECIMAL_COMMA = gettext_noop("Use a dot for decimals (e.g. 12.5); commas may only group thousands (1,234.5).")
MAX_OFFSET_HOURS = 14  # the widest UTC offsets in use; PostgreSQL refuses much beyond


def value_text(raw: object) -> str:
    """The value with surrounding blanks removed and thousands commas dropped (1,234.5)."""
    text = str(raw if raw is not None else "").strip(" ")
    return text.replace(",", "") if _THOUSANDS.match(text) else text


def parse_value(raw: object) -> Decimal:
    text = value_text(raw)
    if _VALUE.match(text):
        return Decimal(text).quantize(Decimal("0.001"))
    # Not valid: work out the most helpful message.
    if "," in text:
        raise ValueError(gettext(MSG_DECIMAL_COMMA))
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(gettext(MSG_NOT_A_NUMBER)) from exc
    if not value.is_finite() or "e" in text.lower():
        raise ValueError(gettext(MSG_NOT_A_NUMBER))
    if value < 0:
        raise ValueError(gettext(MSG_NEGATIVE))
    if exponent(value) < -3:
        raise ValueError(gettext(MSG_TOO_PRECISE))
    if value >= Decimal("1000000000"):
        raise ValueError(gettext(MSG_TOO_LARGE))
    raise ValueError(gettext(MSG_NOT_A_NUMBER))


def time_text(raw: object) -> str:
    if isinstance(raw, datetime):
        return raw.isoformat()
    if isinstance(raw, date):
        return raw.isoformat()
    return str(raw or "").strip(" ")


def parse_time(raw: object, now: datetime) -> datetime:
    text = time_text(raw)
    if datetime_shape(text) not in DATETIME_SHAPES:
        raise ValueError(gettext(MSG_BAD_TIME))
    try:
        moment = parse_datetime(text) if len(text) > 10 else None
        if moment is None:
            day = parse_date(text[:10])
            moment = datetime.combine(day, time()) if day else None
    except ValueError:
        moment = None
    if moment is None or moment.year < 1900:
        raise ValueError(gettext(MSG_BAD_TIME))
    offset = moment.utcoffset()
    if offset is not None and abs(offset) > timedelta(hours=MAX_OFFSET_HOURS):
        raise ValueError(gettext(MSG_BAD_TIME))
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=NAIROBI)  # people write local (Nairobi) times
    if moment > now + FUTURE_TOLERANCE:
        raise ValueError(gettext(MSG_FUTURE))
    return moment


READING_FIELDS = ("meter", "value", "read_at", "reason", "note")


def has_nul(raw: Mapping[str, object]) -> bool:
    """Whether a reading's text holds a NUL character (PostgreSQL text cannot)."""
    return any(NUL in str(raw.get(name) or "") for name in READING_FIELDS)


def parse_reading(index: int, raw: Mapping[str, object], now: datetime) -> ParsedReading:
    serial = str(raw.get("meter") or "").strip().upper()
    parsed = ParsedReading(index=index, serial=serial, note=str(raw.get("note") or "")[:300])
    if has_nul(raw):
        for name in READING_FIELDS:
            if NUL in str(raw.get(name) or ""):
                parsed.error(name, MSG_NUL)
        return parsed
    if not serial:
        parsed.error("meter", gettext(MSG_METER_REQUIRED))
    try:
        parsed.value = parse_value(raw.get("value"))
    except ValueError as exc:
        parsed.error("value", str(exc))
    try:
        parsed.read_at = parse_time(raw.get("read_at"), now)
    except ValueError as exc:
        parsed.error("read_at", str(exc))
    reason = str(raw.get("reason") or "").strip().lower()
    if reason not in ("", "rollover", "replacement"):
        parsed.error("reason", gettext(MSG_BAD_REASON))
    parsed.reason = reason
    return parsed


def local_day(moment: datetime) -> str:
    return date_format(moment.astimezone(NAIROBI), "d M Y H:i")  # in the active language, as the message
