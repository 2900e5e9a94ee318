"""Money as people read it: `KES 1,948.75` (Decimal, two places, half-up, thousands separated, a
minus sign after the currency; None is nothing owed). Decimals (or their text) all the way: a
float would already have lost cents."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import cast

CENT = Decimal("0.01")


def exponent(value: Decimal) -> int:
    """The exponent of a finite Decimal (`1.50` → -2). Only NaN and infinities have a letter
    there instead of a number: call it once `value.is_finite()` is known."""
    return cast(int, value.as_tuple().exponent)


def kes(amount: object) -> str:
    if amount is None or amount == "":
        value = Decimal("0")
    else:
        try:
            value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
        except InvalidOperation:
            return ""
        if not value.is_finite():
            return ""
    value = value.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    return f"KES {sign}{abs(value):,.2f}"
