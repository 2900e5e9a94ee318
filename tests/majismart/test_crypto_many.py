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


def test_a_batch_is_opened_whole_or_token_by_token_with_the_same_answers(settings) -> None:  # type: ignore[no-untyped-def]
    """Batches of well-formed tokens under the newest key are opened together (one decode, one
    comparison of every HMAC); anything else in a batch (an empty value, an older key, a token
    that is not one) gives the answers and refusals that Fernet gives token by token."""
    values = [f"Client {i} " + "m" * (i % 40) for i in range(500)]
    tokens = [encrypt(v) for v in values]
    assert decrypt_many(tokens) == values
    assert decrypt_many(tokens[:1]) == values[:1]
    with_empties = ["", *tokens[:3], "", tokens[3], ""]
    assert decrypt_many(with_empties) == ["", *values[:3], "", values[3], ""]
    # A token whose `=` padding is written as `A` decodes to the same bytes when joined with the
    # others, but Fernet refuses it (its text decodes to two bytes too many): so does a batch.
    padded = next(t for t in tokens if t.endswith("=="))
    assert Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode()).decrypt(padded[len(PREFIX):].encode())
    unpadded = padded[:-2] + "AA"
    with pytest.raises(Undecryptable):
        decrypt(unpadded)
    with pytest.raises(Undecryptable):
        decrypt_many([*tokens[:10], unpadded])
    # A character outside the alphabet, at the length of a real token, in a batch.
    with pytest.raises(Undecryptable):
        decrypt_many([*tokens[:10], tokens[10][:-1] + "!"])
    # One token's HMAC broken among good ones: refused, as Fernet refuses it.
    raw = _raw(tokens[20])
    raw[-1] ^= 0x01
    with pytest.raises(Undecryptable):
        decrypt_many([*tokens[:20], _token(raw), *tokens[21:40]])
