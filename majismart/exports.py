"""Downloads of lists and reports as CSV or XLSX: every row (not just a page), streamed, the
same filters as the page or API list they come from, Nairobi dates, money and volumes as numbers.

Rows come from an iterator (a queryset's `.iterator()`), so memory stays flat whatever the
number of rows: CSV is written line by line into the response; XLSX by XlsxWriter in its
constant-memory mode into a temporary file that the response then streams from disk.

A text cell starting with `=`, `+`, `-`, `@`, tab or carriage return is written with a leading
`'` in CSV, so a spreadsheet opening the file never runs it as a formula (XLSX cells are typed:
text is never a formula there)."""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone

FORMATS = ("csv", "xlsx")
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PHONE = re.compile(r"\+\d{6,15}")  # a phone number in E.164: digits only, never a formula


def guarded(text: str) -> str:
    """A text cell as CSV writes it: behind a `'` when a spreadsheet would take it for a formula
    (a phone number such as +254711000000 is left as it is)."""
    if text.startswith(FORMULA_START) and not _PHONE.fullmatch(text):
        return "'" + text
    return text


_CSV_SPECIAL = re.compile(r'[",\r\n]')


def csv_text(text: str) -> str:
    """A text cell as one CSV field: `guarded`, and quoted when it holds a quote, comma or line end."""
    text = guarded(text)
    return '"' + text.replace('"', '""') + '"' if _CSV_SPECIAL.search(text) else text


def guarded_sql(expr: str) -> str:
    """`guarded` of a text expression, in PostgreSQL (for a statement that writes CSV itself): the
    same formula starts and phone exemption. A test of the first character's code (a regular
    expression only for a text starting with one): it runs for every cell of a download."""
    starts = ", ".join(str(ord(c)) for c in FORMULA_START)
    return (f"CASE WHEN ascii({expr}) NOT IN ({starts}) THEN {expr} "
            rf"WHEN {expr} ~ '^\+[0-9]{{6,15}}$' THEN {expr} ELSE '''' || {expr} END")


_PLACES = {"money": Decimal("0.01"), "m3": Decimal("0.001"), "ratio": Decimal("0.0001"), "percent": Decimal("0.1")}
_XLSX_FORMATS = {"money": "#,##0.00", "m3": "#,##0.000", "ratio": "0.0000", "percent": "0.0", "int": "0",
                 "date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm"}


@dataclass(frozen=True)
class Column:
    """One column: its heading, how to read its value from a row, and its kind: text, int, money
    (KES, 2 decimals), m3 (3 decimals), ratio (4 decimals), percent (1 decimal), date, datetime
    (shown in Africa/Nairobi)."""

    header: str
    value: Callable[[Any], Any]
    kind: str = "text"


def col(header: str, attr: str, kind: str = "text") -> Column:
    """A column reading `attr` (dotted for a related object, a key for a dict row)."""
    def read(row: Any) -> Any:
        value = row
        for part in attr.split("."):
            if value is None:
                return None
            value = value.get(part) if isinstance(value, dict) else getattr(value, part)
        return value() if callable(value) else value
    return Column(header, read, kind)


def _plain(value: Any, kind: str) -> Any:
    """The cell's value: a Decimal rounded to its kind's places, a local date or datetime, a
    number, or text; None for an empty cell."""
    if value is None or value == "":
        return None
    if kind in _PLACES:
        return Decimal(value).quantize(_PLACES[kind])
    if kind == "int":
        return int(value)
    if kind == "datetime" and isinstance(value, datetime):
        return timezone.localtime(value).replace(tzinfo=None, microsecond=0) if timezone.is_aware(value) else value
    if kind == "date" and isinstance(value, datetime):
        return timezone.localtime(value).date()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return guarded(value) if isinstance(value, str) else str(value)


class _Line:
    """A file-like object csv.writer writes one line into, which the stream hands on."""

    def write(self, text: str) -> str:
        return text


def _csv_cell(kind: str) -> Callable[[Any], str]:
    """`_csv_text(_plain(value, kind))`, with a short way for the usual type of each kind (a
    download of 100,000 rows spends its time here)."""
    def general(value: Any) -> str:
        return _csv_text(_plain(value, kind))

    if kind in _PLACES:
        places = _PLACES[kind]
        return lambda v: str(v.quantize(places)) if type(v) is Decimal else general(v)
    if kind == "date":
        return lambda v: v.isoformat() if type(v) is date else general(v)
    if kind == "int":
        return lambda v: str(v) if type(v) is int else general(v)
    if kind == "text":
        return lambda v: guarded(v) if type(v) is str else general(v)
    return general


LINES_PER_CHUNK = 200  # lines sent together: fewer, bigger pieces of the response


def csv_lines(columns: list[Column], rows: Iterable[Any]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield "\ufeff" + writer.writerow([c.header for c in columns])  # the BOM: Excel reads UTF-8 then
    cells = [(c.value, _csv_cell(c.kind)) for c in columns]
    lines: list[str] = []
    for row in rows:
        lines.append(writer.writerow([text(value(row)) for value, text in cells]))
        if len(lines) == LINES_PER_CHUNK:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def disposition(name: str, fmt: str) -> str:
    stamp = timezone.localtime().strftime("%Y-%m-%d")
    return f'attachment; filename="{name}-{stamp}.{fmt}"'


def csv_response(name: str, columns: list[Column], rows: Iterable[Any]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(columns, rows), content_type=CSV_TYPE)
    response["Content-Disposition"] = disposition(name, "csv")
    response["Cache-Control"] = "no-store"
    return response


def xlsx_write(path: str, sheets: list[tuple[str, list[Column], Iterable[Any]]]) -> None:
    """Write each (title, columns, rows) as a sheet of a workbook at `path`, in constant memory."""
    import xlsxwriter  # type: ignore[import-untyped]  # XlsxWriter ships no type information

    book = xlsxwriter.Workbook(path, {"constant_memory": True, "tmpdir": os.path.dirname(path)})
    bold = book.add_format({"bold": True})
    formats = {kind: book.add_format({"num_format": f}) for kind, f in _XLSX_FORMATS.items()}
    for title, columns, rows in sheets:
        sheet = book.add_worksheet(title[:31])
        sheet.freeze_panes(1, 0)
        for i, c in enumerate(columns):
            sheet.write_string(0, i, c.header, bold)
            sheet.set_column(i, i, max(10, min(40, len(c.header) + 2)))
        for r, row in enumerate(rows, start=1):
            for i, c in enumerate(columns):
                value = _plain(c.value(row), c.kind)
                if value is None:
                    continue
                if isinstance(value, (Decimal, int, float)) and not isinstance(value, bool):
                    sheet.write_number(r, i, float(value), formats.get(c.kind))
                elif isinstance(value, (date, datetime)):
                    sheet.write_datetime(r, i, value, formats["datetime" if isinstance(value, datetime) else "date"])
                else:
                    sheet.write_string(r, i, str(value))
    book.close()


def xlsx_response(name: str, sheets: list[tuple[str, list[Column], Iterable[Any]]]) -> FileResponse:
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        xlsx_write(path, sheets)
        stream = open(path, "rb")  # noqa: SIM115 - FileResponse closes it once sent
    finally:
        os.unlink(path)  # the open file stays readable until the response closes it
    response = FileResponse(stream, content_type=XLSX_TYPE)
    response["Content-Disposition"] = disposition(name, "xlsx")
    response["Cache-Control"] = "no-store"
    return response


def export_response(fmt: str, name: str, columns: list[Column], rows: Iterable[Any], *,
                    title: str = "Export") -> StreamingHttpResponse | FileResponse:
    """The download in `fmt` (`csv` or `xlsx`)."""
    if fmt == "xlsx":
        return xlsx_response(name, [(title, columns, rows)])
    return csv_response(name, columns, rows)


def chunked(items: Any, size: int = 2000) -> Iterator[Any]:
    """Every item of a queryset in chunks from a server-side cursor (a list is walked as it is)."""
    if hasattr(items, "iterator"):
        yield from items.iterator(chunk_size=size)
    else:
        yield from items


def export_format(request: Any) -> str:
    """`csv` or `xlsx` when a page's request asks for its download (`?export=`), else ''."""
    fmt = request.GET.get("export", "")
    return fmt if fmt in FORMATS else ""


def label(choices: Any) -> Callable[[str], str]:
    """A choice's label from its value (a model's TextChoices), for a readable column."""
    labels = dict(choices)
    return lambda value: labels.get(value, value)


def copy_out(cursor: Any, sql: str, params: Any) -> Iterator[Any]:
    """The messages (a row each) of `COPY ... TO STDOUT` on a Django cursor, as memoryviews: the
    rows already in libpq's buffer are taken in a tight loop (PQgetCopyData, not waiting), and
    psycopg's own wait is used only when the buffer is empty, so a download of 100,000 lines
    spends its time on the lines rather than on one generator round per row."""
    from psycopg.errors import error_from_result
    from psycopg.pq import ExecStatus

    raw = cursor.cursor  # psycopg's own cursor: Django's debug wrapper takes no parameters for COPY
    with raw.copy(sql, params) as copy:
        pgconn = raw.connection.pgconn
        take = pgconn.get_copy_data
        while True:
            size, data = take(1)  # 1: never block; 0 when nothing is buffered yet
            if size > 0:
                yield data
            elif size == 0:
                data = copy.read()  # waits for the next row or the end, finishing the COPY there
                if not data:
                    return
                yield data
            else:  # -1: the end was buffered too; the statement's results follow it, all taken
                failed = None  # before an error is raised, so the connection is ready for the next one
                while (result := pgconn.get_result()) is not None:
                    if result.status != ExecStatus.COMMAND_OK and failed is None:
                        failed = error_from_result(result, encoding=raw.connection.info.encoding)
                if failed is not None:
                    raise failed
                return
