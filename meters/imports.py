"""Readings from CSV: streamed in chunks through `readings_record`, so memory stays flat and
valid rows are kept however many bad ones a file has."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.db import transaction

from meters.models import Reading
from meters.services import readings_record

CHUNK = 10_000
COLUMNS = {"meter": ("meter", "serial", "meter_serial", "meter serial"),
           "value": ("value", "reading", "reading_m3", "m3"),
           "read_at": ("read_at", "date", "reading_date", "read at"),
           "reason": ("reason",), "note": ("note", "notes", "comment")}
MSG_HEADER = "The first line must name the columns: meter, value, read_at (optional: reason, note)."


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


def csv_rows(stream: Iterable[str]) -> Iterator[dict[str, str]]:
    reader = csv.reader(stream)
    header = next(reader, None)
    if not header:
        raise ImportFormatError(MSG_HEADER)
    names = [h.strip().lower().lstrip("\ufeff") for h in header]
    index = {}
    for key, aliases in COLUMNS.items():
        for i, name in enumerate(names):
            if name in aliases:
                index[key] = i
                break
    if not {"meter", "value", "read_at"} <= set(index):
        raise ImportFormatError(MSG_HEADER)
    for line in reader:
        if not any(cell.strip() for cell in line):
            continue
        yield {key: (line[i] if i < len(line) else "") for key, i in index.items()}


def _chunks(rows: Iterator[dict[str, str]], size: int) -> Iterator[list[dict[str, str]]]:
    chunk: list[dict[str, str]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def readings_import(stream: Iterable[str], *, user: object = None, dry_run: bool = False,
                    chunk_size: int = CHUNK, progress: Callable[[int], None] | None = None,
                    max_errors: int = 1000) -> ImportSummary:
    """Import (or, with `dry_run`, only check) readings from CSV. Row numbers in errors are the
    file's line numbers (the header is line 1)."""
    summary = ImportSummary()
    with transaction.atomic():
        for chunk in _chunks(csv_rows(stream), chunk_size):
            result = readings_record(chunk, source=Reading.Source.CSV, user=user, want_ids=False)
            summary.created += len(result.created)
            summary.unchanged += len(result.repeats)
            summary.flagged += sum(1 for r in result.created if r.status == Reading.Status.FLAGGED)
            summary.error_count += len(result.errors)
            for error in result.errors:
                if len(summary.errors) < max_errors:
                    summary.errors.append({"line": summary.rows + int(error["index"]) + 2, "errors": error["errors"]})
            summary.rows += len(chunk)
            if progress:
                progress(summary.rows)
        if dry_run:
            transaction.set_rollback(True)
    return summary


def text_stream(data: bytes) -> io.StringIO:
    return io.StringIO(data.decode("utf-8-sig", errors="replace"))
