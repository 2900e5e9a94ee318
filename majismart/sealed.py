"""An encrypted, authenticated byte stream of any length, written and read a chunk at a time, so
that a backup of any size passes through a flat amount of memory.

Layout: a plain header (magic, a random 16-byte salt, an 8-byte key id), then chunks of at most
CHUNK plaintext bytes, each `flag (1) | length (4) | AES-256-GCM ciphertext+tag`. Each archive
has its own key, derived from the master key and the salt by HKDF, so the chunk's index can be
its nonce. The header, the chunk's index and its flag (1 on the last chunk only) are the
associated data: a changed byte, a chunk moved, dropped or repeated, or an archive cut short is
refused, and so is a master key other than the writer's (told apart by the key id, before any
chunk is read). The cryptography package does the cryptography; this module only frames it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"MAJISMART-SEALED\x00\x01"
CHUNK = 64 * 1024
_HEADER = len(MAGIC) + 16 + 8
_FRAME = struct.Struct(">BI")
_TAG = 16

MSG_KEY_FORMAT = ("The backup key must be 32 random bytes in URL-safe base64 (44 characters), e.g. from "
                  "`python -c \"import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())\"`.")
MSG_NOT_SEALED = "This is not a MajiSmart backup archive (or not one this version reads)."
MSG_WRONG_KEY = "This archive was sealed with a different BACKUP_ENCRYPTION_KEY: nothing was restored."
MSG_TRUNCATED = "The archive is truncated: it ends before its last part. Nothing was restored."


class SealedError(Exception):
    """The archive cannot be opened: wrong key, damaged, changed or cut short."""


def key_from_text(text: str) -> bytes:
    """The 32-byte master key written as URL-safe base64 (as a Fernet key is)."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise SealedError(MSG_KEY_FORMAT) from exc
    if len(key) != 32:
        raise SealedError(MSG_KEY_FORMAT)
    return key


def _key_id(master: bytes) -> bytes:
    return hmac.new(master, b"majismart sealed stream key id", hashlib.sha256).digest()[:8]


def _archive_key(master: bytes, salt: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"majismart sealed stream v1").derive(master)
    return AESGCM(derived)


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, int(final))


class SealedWriter:
    """Write plaintext; sealed chunks go to `out`. `close()` seals the last chunk (required)."""

    def __init__(self, out: BinaryIO, master: bytes) -> None:
        salt = os.urandom(16)
        self._out = out
        self._header = MAGIC + salt + _key_id(master)
        self._aead = _archive_key(master, salt)
        self._buffer = bytearray()
        self._index = 0
        self._closed = False
        out.write(self._header)

    def _seal(self, data: bytes, final: bool) -> None:
        nonce = self._index.to_bytes(12, "big")
        sealed = self._aead.encrypt(nonce, data, _aad(self._header, self._index, final))
        self._out.write(_FRAME.pack(int(final), len(sealed)))
        self._out.write(sealed)
        self._index += 1

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) > CHUNK:
            self._seal(bytes(self._buffer[:CHUNK]), final=False)
            del self._buffer[:CHUNK]

    def close(self) -> None:
        if not self._closed:
            self._seal(bytes(self._buffer), final=True)
            self._buffer.clear()
            self._closed = True


class SealedReader:
    """Read the plaintext back, a chunk at a time; every chunk is authenticated before any of its
    bytes are returned, and the end of the plaintext is only reached through the sealed last chunk."""

    def __init__(self, source: BinaryIO, master: bytes) -> None:
        self._source = source
        header = source.read(_HEADER)
        if len(header) < _HEADER or not header.startswith(MAGIC):
            raise SealedError(MSG_NOT_SEALED)
        if not hmac.compare_digest(header[-8:], _key_id(master)):
            raise SealedError(MSG_WRONG_KEY)
        self._header = header
        self._aead = _archive_key(master, header[len(MAGIC):len(MAGIC) + 16])
        self._buffer = b""
        self._offset = 0
        self._index = 0
        self._done = False

    def _next_chunk(self) -> bool:
        if self._done:
            return False
        frame = self._source.read(_FRAME.size)
        if len(frame) < _FRAME.size:
            raise SealedError(MSG_TRUNCATED)
        flag, length = _FRAME.unpack(frame)
        if flag not in (0, 1) or length < _TAG or length > CHUNK + _TAG:
            raise SealedError(f"The archive is damaged or was changed (part {self._index + 1}). Nothing was restored.")
        sealed = self._source.read(length)
        if len(sealed) < length:
            raise SealedError(MSG_TRUNCATED)
        try:
            plain = self._aead.decrypt(self._index.to_bytes(12, "big"), sealed, _aad(self._header, self._index, bool(flag)))
        except InvalidTag as exc:
            raise SealedError(f"The archive is damaged or was changed (part {self._index + 1} fails its check). "
                              "Nothing was restored.") from exc
        self._index += 1
        if flag:
            self._done = True
            if self._source.read(1):
                raise SealedError("The archive has data after its last part: it was changed. Nothing was restored.")
        self._buffer, self._offset = plain, 0
        return True

    def read(self, size: int) -> bytes:
        """Up to `size` bytes (fewer only at the end of the plaintext)."""
        parts = []
        while size > 0:
            if self._offset >= len(self._buffer) and not self._next_chunk():
                break
            part = self._buffer[self._offset:self._offset + size]
            self._offset += len(part)
            size -= len(part)
            parts.append(part)
        return b"".join(parts)

    def read_exactly(self, size: int) -> bytes:
        data = self.read(size)
        if len(data) < size:
            raise SealedError(MSG_TRUNCATED)
        return data

    def at_end(self) -> bool:
        """True once the sealed last chunk has been read and nothing of it is left."""
        return self._offset >= len(self._buffer) and (self._done or not self._next_chunk())
