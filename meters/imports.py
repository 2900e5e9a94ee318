"""Readings from CSV: the file goes to PostgreSQL by COPY and is checked there, in chunks, by
the same pipeline as every other reading (meters/services.py). Memory stays flat whatever the
file's size; valid rows are kept however many bad ones it has."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import psycopg
from django.db import DataError as DjangoDataError
from django.db import transaction

from meters.models import Reading
from meters.services import readings_record_csv

COLUMNS = {"meter": ("meter", "serial", "meter_serial", "meter serial"),
           "value": ("value", "reading", "reading_m3", "m3"),
           "read_at": ("read_at", "date", "reading_date", "read at", "time"),
           "reason": ("reason",), "note": ("note", "notes", "comment")}
MSG_HEADER = "The first line must name the columns: meter, value, read_at (optional: reason, note)."
MSG_MALFORMED = "Line {line} of the file is not valid CSV ({detail})."


class ImportFormatError(ValueError):
    pass


@dataclass
class ImportSummary:
    rows: int = 0
    created: int = 0
    unchanged: int = 0
    flagged: int = 0
    error_count: int = 0
    errors: list[dict[str, object]] = field(default_factory=list)  # the first `max_errors`


class _Prefixed(io.RawIOBase):
    """The bytes already read (the header line) followed by the rest of the stream."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head, self.rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if self.head:
            out, self.head = self.head, b""
            return out
        return self.rest.read(size)


def header_mapping(line: bytes) -> tuple[list[str], dict[str, int]]:
    text = line.decode("utf-8-sig", errors="replace")
    names = [h.strip().lower() for h in next(csv.reader([text]), [])]
    mapping: dict[str, int] = {}
    for key, aliases in COLUMNS.items():
        for i, name in enumerate(names):
            if name in aliases and key not in mapping:
                mapping[key] = i
    if not {"meter", "value", "read_at"} <= set(mapping):
        raise ImportFormatError(MSG_HEADER)
    return names, mapping


def readings_import(stream: BinaryIO, *, user: object = None, dry_run: bool = False,
                    progress: Callable[[int], None] | None = None, max_errors: int = 1000,
                    chunk: int = 20_000) -> ImportSummary:
    """Import (or, with `dry_run`, only check) readings from a CSV byte stream. Errors carry
    the file's line numbers (the header is line 1)."""
    head = stream.readline()
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    names, mapping = header_mapping(head)
    with transaction.atomic():
        try:
            result = readings_record_csv(_Prefixed(head, stream), names, mapping, source=Reading.Source.CSV,
                                         user=user, chunk=chunk, progress=progress, max_errors=max_errors)
        except (DjangoDataError, psycopg.errors.DataError) as exc:  # COPY refuses a malformed file whole: say where
            raise ImportFormatError(MSG_MALFORMED.format(line=_line_of(exc), detail=str(exc).splitlines()[0])) from exc
        if dry_run:
            transaction.set_rollback(True)
    summary = ImportSummary(created=result.created_count, unchanged=result.repeat_count,
                            flagged=result.flagged_count, error_count=result.error_count)
    summary.rows = summary.created + summary.unchanged + summary.error_count
    summary.errors = [{"line": int(e["index"]) + 2, "errors": e["errors"]} for e in result.errors]
    return summary


def _line_of(exc: Exception) -> str:
    match = re.search(r"line (\d+)", str(exc))
    return match.group(1) if match else "?"
