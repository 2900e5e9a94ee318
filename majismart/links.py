"""Short signed links that travel in SMS, where every character costs: numbers written in base 36
and a truncated HMAC-SHA256 under SECRET_KEY, salted per purpose and provider (the pay link, the
leak report link)."""

from __future__ import annotations

import base64

from django.utils.crypto import salted_hmac

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def b36(n: int) -> str:
    """A non-negative number in base 36 (read back with `int(text, 36)`)."""
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if not n:
            return out


def short_mac(salt: str, value: str, size: int) -> str:
    """The first `size` bytes of the HMAC of `value`, URL-safe base64 (4 characters per 3 bytes)."""
    digest = salted_hmac(salt, value, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest[:size]).decode()


def is_b36(text: str) -> bool:
    """Whether `text` is a number `b36` writes (lower-case letters and digits, at least one)."""
    return bool(text) and all(ch in _B36 for ch in text)
