"""Readings from CSV: the file goes to PostgreSQL by COPY and is checked there, in chunks, by
the same pipeline as every other reading (meters/services.py). Memory stays flat whatever the
file's size; valid rows are kept however many bad ones it has."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import psycopg
from django.db import DataError as DjangoDataError
from django.db import transaction

from majismart.uploads import decode_text
from meters.models import Reading
from meters.services import readings_record, readings_record_csv

COLUMNS = {"meter": ("meter", "serial", "meter_serial", "meter serial"),
           "value": ("value", "reading", "reading_m3", "m3"),
           "read_at": ("read_at", "date", "reading_date", "read at", "time"),
           "reason": ("reason",), "note": ("note", "notes", "comment")}
MSG_HEADER = "The first line must name the columns: meter, value, read_at (optional: reason, note)."
MSG_COLUMNS = "This line has {found} columns; the header has {expected}."


class ImportFormatError(ValueError):
    pass


@dataclass
class ImportSummary:
    rows: int = 0
    created: int = 0
    unchanged: int = 0
    flagged: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # the first `max_errors`


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
            summary = ImportSummary(created=result.created_count, unchanged=result.repeat_count,
                                    flagged=result.flagged_count, error_count=result.error_count)
            summary.errors = [{"line": int(e["index"]) + 2, "errors": e["errors"]} for e in result.errors]
        except (DjangoDataError, psycopg.errors.DataError):
            # COPY refuses a file with a malformed line (or not UTF-8) as a whole. Read this one
            # line by line instead: each bad line is reported, every good one still goes in.
            stream.seek(0)
            summary = _import_line_by_line(stream.read(), user=user, max_errors=max_errors)
            if progress:
                progress(summary.rows)
        if dry_run:
            transaction.set_rollback(True)
    summary.rows = summary.created + summary.unchanged + summary.error_count
    return summary


def _import_line_by_line(data: bytes, *, user: object, max_errors: int) -> ImportSummary:
    reader = csv.reader(io.StringIO(decode_text(data)))
    header = next(reader, [])
    _names, mapping = header_mapping(",".join(header).encode())
    rows, lines, bad = [], [], []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            bad.append({"line": reader.line_num, "errors": {"detail": [
                MSG_COLUMNS.format(expected=len(header), found=len(row))]}})
            continue
        rows.append({key: row[i] for key, i in mapping.items()})
        lines.append(reader.line_num)
    result = readings_record(rows, source=Reading.Source.CSV, user=user, want_ids=False, max_errors=max_errors)
    errors = bad + [{"line": lines[int(e["index"])], "errors": e["errors"]} for e in result.errors]
    errors.sort(key=lambda e: e["line"])
    return ImportSummary(created=result.created_count, unchanged=result.repeat_count, flagged=result.flagged_count,
                         error_count=result.error_count + len(bad), errors=errors[:max_errors])
