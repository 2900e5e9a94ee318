"""Uploaded files kept between a preview and its confirmation, in the provider's own storage."""

from __future__ import annotations

import re
import uuid

from django.core.files.base import File
from django.core.files.storage import default_storage

TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")


def keep(upload: File, kind: str) -> str:
    token = uuid.uuid4().hex
    default_storage.save(f"imports/{kind}-{token}.csv", upload)  # stored under MEDIA_ROOT/<schema>/
    return token


def open_kept(token: str, kind: str) -> File | None:
    if not TOKEN_RE.match(token or ""):
        return None
    name = f"imports/{kind}-{token}.csv"
    return default_storage.open(name, "rb") if default_storage.exists(name) else None


def discard(token: str, kind: str) -> None:
    if TOKEN_RE.match(token or ""):
        default_storage.delete(f"imports/{kind}-{token}.csv")
