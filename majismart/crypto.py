"""Encryption at rest for personal fields, and keyed blind indexes to search them.

FIELD_ENCRYPTION_KEYS holds Fernet keys: the first encrypts, every key decrypts, so a new key
is rotated in by putting it first (then `manage.py rotate_encryption_keys` re-encrypts old rows,
online, and the old keys can be removed). A blind index is an HMAC-SHA256 of the normalised value
under BLIND_INDEX_KEY, so equal values can be found without storing them in clear; `word_tokens`
does the same per word of a name, so a name is found by any of its whole words.

A Fernet token names no key: "under the newest key" means the first key alone decrypts it
(`is_current`), which is how rotation skips what it has already done.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings
from django.db import models

PREFIX = "enc1:"


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(value: str) -> str:
    return PREFIX + fernet().encrypt(value.encode()).decode()


def sealed(value: str) -> str:
    """A value as an EncryptedTextField column stores it (empty stays empty), for the raw
    statements that bypass the ORM."""
    return encrypt(value) if value else ""


class Undecryptable(ValueError):
    """No configured key opens the value (a key left out of FIELD_ENCRYPTION_KEYS)."""


def decrypt(token: str) -> str:
    if not token.startswith(PREFIX):
        raise ValueError("value is not an encrypted token")
    try:
        return fernet().decrypt(token[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise Undecryptable("cannot decrypt: no configured key matches") from exc


# --- many values at once (a download of 100,000 rows) ---------------------------------------------
# Fernet (https://github.com/fernet/spec): 0x80 | 8-byte timestamp | 16-byte IV | AES-128-CBC
# ciphertext (PKCS7) | HMAC-SHA256 of all before it; signing key = the key's first 16 bytes,
# encryption key = its last 16. `decrypt_many` checks every token's HMAC exactly as Fernet does
# (constant-time, before any decryption, every configured key tried in order as MultiFernet does),
# then decrypts the whole batch's ciphertexts in one AES-CBC call per key (_cbc_batch). ttl is
# not checked (as in `decrypt`).
_HEAD, _MAC = 25, 32  # version + timestamp + IV; HMAC
_BLOCK = 16
_URLSAFE = bytes.maketrans(b"-_", b"+/")


class _Signer:
    """HMAC-SHA256 under one key (RFC 2104: H((K ^ opad) || H((K ^ ipad) || m))) with the two keyed
    SHA-256 states made once and copied per message: the same digest as `hmac.digest`, without
    OpenSSL's per-call HMAC set-up, which costs more than hashing a short token."""

    def __init__(self, key: bytes) -> None:
        padded = key.ljust(64, b"\0")  # SHA-256's block; the signing key is 16 bytes
        self.inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self.outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def digest(self, message: bytes) -> bytes:
        inner = self.inner.copy()
        inner.update(message)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.digest()


@lru_cache(maxsize=4)
def _key_pairs(keys: tuple[str, ...]) -> tuple[tuple[_Signer, Cipher[modes.CBC]], ...]:
    pairs = []
    for key in keys:
        raw = base64.urlsafe_b64decode(key)
        pairs.append((_Signer(raw[:16]), Cipher(algorithms.AES(raw[16:]), modes.CBC(bytes(_BLOCK)))))
    return tuple(pairs)


def _cbc_batch(cipher: Any, tokens: list[bytes]) -> list[bytes]:
    """The padded plaintexts of verified tokens all under one key, with one AES-CBC pass over every
    token's IV and ciphertext in a row: CBC decrypts a block with the block before it, so each
    token's first block is chained to its own IV, and the IVs' own (meaningless) plaintexts are
    left out."""
    plain = cipher.decryptor().update(b"".join([t[_HEAD - _BLOCK : -_MAC] for t in tokens]))
    out, at = [], 0
    for t in tokens:
        size = len(t) - _HEAD - _MAC + _BLOCK
        out.append(plain[at + _BLOCK : at + size])
        at += size
    return out


_PADS = [b""] + [bytes([n]) * n for n in range(1, _BLOCK + 1)]  # PKCS7: n bytes of n


def decrypt_many(tokens: list[str]) -> list[str]:
    """Each stored value in clear (an empty one stays empty), equal to `decrypt` of each, for a
    download of many rows: about ten times quicker than one Fernet call per value."""
    for token in tokens:
        if token and not token.startswith(PREFIX):
            raise ValueError("value is not an encrypted token")
        if token == PREFIX:  # an empty body stands for an empty value
            raise Undecryptable("cannot decrypt: not a token")
    return open_many([t[len(PREFIX) :] for t in tokens])


def open_many(bodies: list[str]) -> list[str]:
    """`decrypt_many` of the tokens' bodies: each stored token's text after PREFIX (Fernet's URL-safe
    base64), as a statement can hand them over; an empty body is an empty value."""
    try:
        joined = "\n".join(bodies).encode("ascii")
    except UnicodeEncodeError as exc:
        raise Undecryptable("cannot decrypt: not a token") from exc
    return [value.decode() for value in _open_joined(joined, len(bodies))]


def open_many_bytes(bodies: list[bytes]) -> list[bytes]:
    """`open_many` of bodies as bytes (ASCII), each value as its UTF-8 bytes: for a download that
    writes bytes, without decoding the values only to encode them again."""
    return _open_joined(b"\n".join(bodies), len(bodies))


def _open_joined(joined: bytes, count: int) -> list[bytes]:
    """The values (UTF-8) of `count` bodies joined by line ends. Written for speed, a 100,000-row
    download spends its time here: the bodies are translated to standard base64 in one go, then
    each is decoded and its HMAC checked; the ciphertexts are decrypted in one pass per key."""
    if not count:
        return []
    pairs = _key_pairs(tuple(settings.FIELD_ENCRYPTION_KEYS))
    raw = joined.translate(_URLSAFE).split(b"\n")
    if len(raw) != count:  # a line end in a body
        raise Undecryptable("cannot decrypt: not a token")
    icopy, ocopy, same, a2b = pairs[0][0].inner.copy, pairs[0][0].outer.copy, hmac.compare_digest, binascii.a2b_base64
    shortest = _HEAD + _BLOCK + _MAC
    tokens, keys = [], []
    for body in raw:
        if not body:
            tokens.append(b"")
            keys.append(-1)
            continue
        try:  # base64.urlsafe_b64decode (as Fernet decodes), without its per-call checks
            data = a2b(body)
        except binascii.Error as exc:
            raise Undecryptable("cannot decrypt: not a token") from exc
        size = len(data)
        if size < shortest or data[0] != 0x80 or (size - _HEAD - _MAC) % _BLOCK:
            raise Undecryptable("cannot decrypt: not a token")
        inner = icopy()  # HMAC under the newest key (_Signer.digest, inlined)
        inner.update(data[:-_MAC])
        outer = ocopy()
        outer.update(inner.digest())
        keys.append(0 if same(outer.digest(), data[-_MAC:]) else _older_key(data, pairs))
        tokens.append(data)
    clear = [b""] * count  # an empty value stays empty; every token is filled in below
    pads = _PADS
    for index, (_, cipher) in enumerate(pairs):
        mine = [i for i, k in enumerate(keys) if k == index]
        for i, padded in zip(mine, _cbc_batch(cipher, [tokens[i] for i in mine]) if mine else [], strict=True):
            pad = padded[-1]
            if pad > _BLOCK or padded[-pad:] != pads[pad]:
                raise Undecryptable("cannot decrypt: bad padding")
            clear[i] = padded[:-pad]
    return clear


def _older_key(data: bytes, pairs: tuple[tuple[_Signer, Any], ...]) -> int:
    """The index of the older key whose HMAC matches (as MultiFernet tries them), or Undecryptable."""
    signed, mac = data[:-_MAC], data[-_MAC:]
    for index, (signing, _) in enumerate(pairs[1:], start=1):
        if hmac.compare_digest(signing.digest(signed), mac):
            return index
    raise Undecryptable("cannot decrypt: no configured key matches")


def rotate(token: str) -> str:
    return PREFIX + fernet().rotate(token[len(PREFIX) :].encode()).decode()


@lru_cache(maxsize=4)
def _newest(key: str) -> Fernet:
    return Fernet(key.encode())


def is_current(token: str) -> bool:
    """Whether `token` is already encrypted under the first (newest) key: Fernet tokens carry no
    key id, so try that key alone (a wrong key fails on the HMAC check, before any decryption)."""
    if not token.startswith(PREFIX):
        return False
    try:
        _newest(settings.FIELD_ENCRYPTION_KEYS[0]).decrypt(token[len(PREFIX) :].encode())
    except InvalidToken:
        return False
    return True


def masked_secret(value: str) -> str:
    """What a settings page shows of a saved secret: that it is set, and its last four characters."""
    if not value:
        return ""
    return f"•••• {value[-4:]}" if len(value) >= 12 else "••••"


def _index_key() -> bytes:
    # A key of its own (BLIND_INDEX_KEY), so rotating the encryption keys leaves every index valid.
    return hashlib.sha256(b"majismart-blind-index:" + settings.BLIND_INDEX_KEY.encode()).digest()


def blind_index(value: str) -> str:
    normalised = "".join(value.split()).lower()
    return keyed_digest(normalised)


def keyed_digest(value: str) -> str:
    """HMAC-SHA256 of the value as it is, under the blind-index key: equal values, equal digests,
    and nothing about the value learnt from the digest without the key."""
    return hmac.new(_index_key(), value.encode(), hashlib.sha256).hexdigest()


@lru_cache(maxsize=4)
def _token_key(index_key: str) -> bytes:
    # Derived apart from the whole-value index: a one-word name's token never equals its blind index.
    return hashlib.sha256(b"majismart-word-token:" + index_key.encode()).digest()


_WORD = re.compile(r"\w+")
TOKEN_LENGTH = 16  # hex characters (64 bits): no collisions among any provider's words


def word_tokens(value: str) -> list[str]:
    """Keyed tokens of each distinct word of `value` (lower-cased, any punctuation a separator),
    in order: a name stored encrypted is still found by any whole word of it."""
    key = _token_key(settings.BLIND_INDEX_KEY)
    tokens: list[str] = []
    for word in _WORD.findall(value.casefold()):
        token = hmac.new(key, word.encode(), hashlib.sha256).hexdigest()[:TOKEN_LENGTH]
        if token not in tokens:
            tokens.append(token)
    return tokens


class EncryptedTextField(models.TextField):
    """Stores `enc1:<fernet token>`; Python code only ever sees the clear value."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value)

    def to_python(self, value: Any) -> str | None:
        if value is None or value == "" or not isinstance(value, str):
            return value
        return decrypt(value) if value.startswith(PREFIX) else value

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))
