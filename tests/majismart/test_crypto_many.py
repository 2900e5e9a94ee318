"""majismart.crypto.decrypt_many: the same values as Fernet's decrypt, token by token, the same
refusals, every configured key tried (rotation)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from majismart.crypto import PREFIX, Undecryptable, decrypt, decrypt_many, encrypt, open_many

# Lengths either side of the 16-byte blocks (PKCS7 adds a whole block at 16, 32), multi-byte text.
VALUES = ["", "A", "Wanjiku", "x" * 15, "y" * 16, "z" * 17, "Ann Atieno " * 3, "Ñjeri Wa-Kamau 水 ✓", "q" * 100]


def _raw(token: str) -> bytearray:
    return bytearray(base64.urlsafe_b64decode(token[len(PREFIX):]))


def _token(raw: bytes) -> str:
    return PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode()


def test_many_values_decrypt_as_fernet_does() -> None:
    values = [f"{v}{i}" if v else "" for i in range(300) for v in VALUES]
    tokens = [encrypt(v) if v else "" for v in values]
    assert decrypt_many(tokens) == [decrypt(t) if t else "" for t in tokens] == values
    assert decrypt_many([]) == []
    # The same tokens handed over as their bodies (the text after PREFIX, as a statement gives them).
    assert open_many([t[len(PREFIX):] for t in tokens]) == values
    for bad in (tokens[1][len(PREFIX):-4], "!", "@@@@", tokens[1][len(PREFIX):] + "\n", "é"):
        with pytest.raises(Undecryptable):
            open_many([bad])


@pytest.mark.parametrize("at", [0, 3, 12, 30, -40, -1])  # version, timestamp, IV, ciphertext, last block, HMAC
def test_a_tampered_token_is_refused_like_fernet_refuses_it(at: int) -> None:
    good = encrypt("Grace Njeri")
    raw = _raw(good)
    raw[at] ^= 0x01
    bad = _token(raw)
    with pytest.raises(Undecryptable):
        decrypt(bad)
    with pytest.raises(Undecryptable):
        decrypt_many([good, bad])


def test_short_garbled_or_unprefixed_tokens_are_refused() -> None:
    good = encrypt("Grace Njeri")
    for bad in (good[:-8], good[:40], PREFIX + "not base64 at all!!", PREFIX, PREFIX + "é"):
        with pytest.raises(Undecryptable):
            decrypt_many([bad])
    with pytest.raises(ValueError, match="not an encrypted token"):
        decrypt_many([good[len(PREFIX):]])


def test_a_signed_token_with_bad_padding_is_refused(settings) -> None:  # type: ignore[no-untyped-def]
    """Only a key holder can sign it; Fernet still refuses it, and so does decrypt_many."""
    key = base64.urlsafe_b64decode(settings.FIELD_ENCRYPTION_KEYS[0])
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(key[16:]), modes.CBC(iv)).encryptor()
    body = b"\x80" + (0).to_bytes(8, "big") + iv + encryptor.update(b"sixteen bytes!!\x00") + encryptor.finalize()
    bad = _token(body + hmac.digest(key[:16], body, hashlib.sha256))
    with pytest.raises(Undecryptable):
        decrypt(bad)
    with pytest.raises(Undecryptable):
        decrypt_many([bad])


def test_every_configured_key_is_tried(settings) -> None:  # type: ignore[no-untyped-def]
    old_tokens = [encrypt(f"Old Name {i}") for i in range(50)]
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.FIELD_ENCRYPTION_KEYS]
    new_tokens = [encrypt(f"New Name {i}") for i in range(50)]
    mixed = [t for pair in zip(new_tokens, old_tokens, strict=True) for t in pair]
    assert decrypt_many(mixed) == [decrypt(t) for t in mixed]
    assert decrypt_many(mixed)[:4] == ["New Name 0", "Old Name 0", "New Name 1", "Old Name 1"]
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]  # the old key retired
    assert decrypt_many(new_tokens) == [f"New Name {i}" for i in range(50)]
    with pytest.raises(Undecryptable):
        decrypt_many(mixed)
