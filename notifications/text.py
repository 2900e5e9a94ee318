"""Message text: placeholders filled in, and what an SMS costs in parts.

An SMS in the GSM 03.38 alphabet carries 160 characters (153 a part once split; the extension
characters take two); anything else goes as UCS-2, 70 (67 a part), counted in UTF-16 units.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class SmsSize:
    encoding: str  # "GSM-7" or "UCS-2"
    characters: int  # in the encoding's units
    segments: int

    def cost(self, per_segment: Decimal) -> Decimal:
        return (per_segment * self.segments).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def sms_size(text: str) -> SmsSize:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else math.ceil(units / part)
    return SmsSize(encoding, units, segments if units else 0)


def fill(template: str, values: Mapping[str, object]) -> str:
    """`{name}` → values["name"]; an unknown placeholder stays as written (never an error while
    sending, and no attribute or index lookups: a template is provider-written text)."""
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)


def placeholders_in(template: str) -> set[str]:
    return set(PLACEHOLDER.findall(template))


def mask_recipient(value: str) -> str:
    """What staff see of a phone number or email address in the log."""
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}•••@{domain}"
    return f"{value[:5]}•••{value[-3:]}" if len(value) > 8 else "•••"
