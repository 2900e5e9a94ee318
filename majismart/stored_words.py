"""Descriptions our code writes in English into the ledger and onto bills ("Water bill December
2025", "Water 0–6 m³", "M-Pesa payment"). They are records and stay as written; when a client
reads them they are said in the active language: each wording our code writes is matched and said
again through the catalogue. Any other text (a fee's name, staff's own words) shows as it is."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date

from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_noop

_MONTHS = {name: number for number, name in enumerate(calendar.month_name) if name}
# Payment.Method's labels, as `get_method_display()` wrote them into a payment's ledger entry.
_METHODS = {gettext_noop("M-Pesa"), gettext_noop("Cash"), gettext_noop("Bank"), gettext_noop("Card (Paystack)"),
            gettext_noop("Cheque")}
_AS_IS = {gettext_noop("Fixed charge"), gettext_noop("Meter rent"), gettext_noop("Minimum charge top-up"),
          gettext_noop("Late-payment penalty"), gettext_noop("Estimate correction"),
          gettext_noop("Balance brought forward from the previous system")}


def _period(found: dict[str, str]) -> dict[str, str]:
    return {"period": date_format(date(int(found["year"]), _MONTHS[found["month"]], 1), "F Y")}


def _method(found: dict[str, str]) -> dict[str, str]:
    return {"method": gettext(found["method"])}


_MONTH_NAMES = "|".join(_MONTHS)
_METHOD_NAMES = "|".join(re.escape(m) for m in sorted(_METHODS))
_SAID: list[tuple[re.Pattern[str], str, Callable[[dict[str, str]], dict[str, str]] | None]] = [
    (re.compile(rf"Water bill (?P<month>{_MONTH_NAMES}) (?P<year>\d{{4}})"), gettext_noop("Water bill {period}"), _period),
    (re.compile(r"Water (?P<low>[\d.,]+)–(?P<high>[\d.,]+) m³"), gettext_noop("Water {low}–{high} m³"), None),
    (re.compile(r"Water above (?P<low>[\d.,]+) m³"), gettext_noop("Water above {low} m³"), None),
    (re.compile(r"Sewerage (?P<percent>[\d.,]+)% of water charge"), gettext_noop("Sewerage {percent}% of water charge"), None),
    (re.compile(rf"(?P<method>{_METHOD_NAMES}) payment"),
     gettext_noop("{method} payment"), _method),
]


def said(text: str) -> str:
    """`text` in the active language when it is one of our own wordings (a payment's note after
    its wording, e.g. " (STK request …)", is kept); otherwise as it is."""
    if text in _AS_IS:
        return gettext(text)
    for pattern, wording, values in _SAID:
        found = pattern.match(text)
        if found is not None:
            parts = found.groupdict()
            return gettext(wording).format(**(values(parts) if values else parts)) + text[found.end():]
    return text
