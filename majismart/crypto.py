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
from itertools import accumulate
from operator import itemgetter
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.hmac import HMAC
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


@lru_cache(maxsize=4)
def _key_pairs(keys: tuple[str, ...]) -> tuple[tuple[HMAC, Cipher[modes.CBC]], ...]:
    """Per key: its HMAC-SHA256 under the signing half, keyed once and copied per message (a copy
    costs less than keying OpenSSL's HMAC again for a short token), and its AES cipher."""
    pairs = []
    for key in keys:
        raw = base64.urlsafe_b64decode(key)
        pairs.append((HMAC(raw[:16], SHA256()), Cipher(algorithms.AES(raw[16:]), modes.CBC(bytes(_BLOCK)))))
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
        encoded = [body.encode("ascii") for body in bodies]
    except UnicodeEncodeError as exc:
        raise Undecryptable("cannot decrypt: not a token") from exc
    return [value.decode() for value in open_many_bytes(encoded)]


def open_many_bytes(bodies: list[bytes]) -> list[bytes]:
    """`open_many` of bodies as bytes (ASCII), each value as its UTF-8 bytes: for a download that
    writes bytes, without decoding the values only to encode them again."""
    if not bodies:
        return []
    if 0 in (lengths := list(map(len, bodies))):  # empty values stay empty; the rest are opened together
        full = [i for i, size in enumerate(lengths) if size]
        clear = [b""] * len(bodies)
        for i, value in zip(full, open_many_bytes([bodies[i] for i in full]), strict=True):
            clear[i] = value
        return clear
    opened = _open_batch(bodies, lengths)
    return opened if opened is not None else _open_joined(b"\n".join(bodies), len(bodies))


# A Fernet token is 57 + 16n bytes (n cipher blocks); its URL-safe base64 text is 4 characters per
# 3 bytes, padded with `=`, so the text's length tells the token's size.
_SIZE_OF_TEXT = {-(-(57 + 16 * n) // 3) * 4: 57 + 16 * n for n in range(1, 4096)}
_DECODED_OF_TEXT = {text: text // 4 * 3 for text in _SIZE_OF_TEXT}  # with the `=` as zero bytes
_STANDARD_UNPADDED = bytes.maketrans(b"-_=", b"+/A")  # `=` as `A` (zero bits): the texts decode joined


def _open_batch(bodies: list[bytes], lengths: list[int]) -> list[bytes] | None:
    """Every body's value when all are well-formed tokens under the newest key, else None (then
    `_open_joined`, a token at a time, tells which is not, or tries the older keys). The batch's
    text is decoded in one call and every version byte checked at once; the HMACs, one per token
    (the one step that cannot be shared), are compared in one constant-time comparison; then one
    AES-CBC pass (`_cbc_batch`'s chaining) and each value's padding checked."""
    if not all(map(_SIZE_OF_TEXT.__contains__, lengths)):
        return None
    sizes = list(map(_SIZE_OF_TEXT.__getitem__, lengths))
    text = b"".join(bodies)
    try:
        data = binascii.a2b_base64(text.translate(_STANDARD_UNPADDED))
    except binascii.Error:
        return None
    starts = list(accumulate(map(_DECODED_OF_TEXT.__getitem__, lengths), initial=0))
    # The decoder skips bytes outside the alphabet (the decoded length tells), and every token
    # must carry its own `=` padding, as Fernet's decoding needs it.
    if len(data) != starts.pop() or text.count(b"=") != len(data) - sum(sizes):
        return None
    if set(itemgetter(0, *starts)(data)) != {0x80}:  # the extra 0: a tuple even for one token
        return None
    signing, cipher = _key_pairs(tuple(settings.FIELD_ENCRYPTION_KEYS))[0]
    keyed = signing.copy
    ends = [start + size - _MAC for start, size in zip(starts, sizes, strict=True)]
    macs = []
    for start, end in zip(starts, ends, strict=True):
        mac = keyed()
        mac.update(data[start:end])
        macs.append(mac.finalize())
    if not hmac.compare_digest(b"".join(macs), b"".join([data[end : end + _MAC] for end in ends])):
        return None
    # One AES-CBC pass over every IV and ciphertext in a row (as _cbc_batch); in `plain`, a token's
    # IV's block (left out) starts at `first` and its padded value ends at `stop`.
    plain = cipher.decryptor().update(b"".join([data[start + _HEAD - _BLOCK : end]
                                                for start, end in zip(starts, ends, strict=True)]))
    stops = list(accumulate([end - start - _HEAD + _BLOCK for start, end in zip(starts, ends, strict=True)]))
    firsts = [0, *stops[:-1]]
    pads = itemgetter(0, *[stop - 1 for stop in stops])(plain)[1:]  # PKCS7: the last byte, n, and n of them
    if (min(pads) < 1 or max(pads) > _BLOCK
            or b"".join([plain[stop - pad : stop] for stop, pad in zip(stops, pads, strict=True)])
            != b"".join([_PADS[pad] for pad in pads])):
        raise Undecryptable("cannot decrypt: bad padding")
    return [plain[first + _BLOCK : stop - pad] for first, stop, pad in zip(firsts, stops, pads, strict=True)]


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
    keyed, same, a2b = pairs[0][0].copy, hmac.compare_digest, binascii.a2b_base64
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
        mac = keyed()  # HMAC under the newest key
        mac.update(data[:-_MAC])
        keys.append(0 if same(mac.finalize(), data[-_MAC:]) else _older_key(data, pairs))
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


def _older_key(data: bytes, pairs: tuple[tuple[HMAC, Any], ...]) -> int:
    """The index of the older key whose HMAC matches (as MultiFernet tries them), or Undecryptable."""
    signed, mac = data[:-_MAC], data[-_MAC:]
    for index, (signing, _) in enumerate(pairs[1:], start=1):
        mine = signing.copy()
        mine.update(signed)
        if hmac.compare_digest(mine.finalize(), mac):
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
