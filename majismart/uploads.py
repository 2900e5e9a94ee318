"""Uploaded files kept between a preview and its confirmation, in the provider's own storage."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

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


MSG_EXPIRED = "That upload has expired; please upload the file again."


def preview(form: Any, kind: str, dry_run: Callable[[File], object],
            refused: tuple[type[Exception], ...]) -> dict[str, object]:
    """Keep a valid upload and check it with `dry_run` (which writes nothing). Returns what the
    preview page shows, or {} with the problem put on the form's file field."""
    upload = form.cleaned_data["file"]
    token = keep(upload, kind)
    try:
        with open_kept(token, kind) as kept:  # type: ignore[union-attr]
            summary = dry_run(kept)
    except refused as exc:
        discard(token, kind)
        form.add_error("file", str(exc))
        return {}
    return {"summary": summary, "token": token, "file_name": upload.name}


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252, as spreadsheets saved on Windows are."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def purge_older_than(*, hours: int) -> int:
    """Delete this provider's kept uploads older than `hours`; returns how many went."""
    from datetime import timedelta

    from django.utils import timezone

    # No exists("imports") first: object storage has no folders, only keys under a prefix (an
    # empty listing when none is there, on the filesystem as well).
    cutoff = timezone.now() - timedelta(hours=hours)
    gone = 0
    for name in default_storage.listdir("imports")[1]:
        path = f"imports/{name}"
        if default_storage.get_modified_time(path) < cutoff:
            default_storage.delete(path)
            gone += 1
    return gone
