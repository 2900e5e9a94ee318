"""The reports' big downloads, written for 100,000 rows: the full aging list.

`aging_rows` reads the positions joined to their clients in one statement through a server-side
cursor (`.iterator(chunk_size=CHUNK)`), never a query per row, and decrypts each chunk's names in
one go (majismart.crypto.decrypt_many), so a download of every client owing streams with memory
flat. `aging_copy_sql` is the same SELECT as SQL, for the benchmark to time PostgreSQL's own
`COPY (...) TO STDOUT` of those rows against the download."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from itertools import islice
from typing import Any, NamedTuple

from django.db.models import ExpressionWrapper, F, QuerySet, TextField
from django.utils import timezone

from majismart.crypto import PREFIX, Undecryptable, decrypt_many, open_many_bytes
from majismart.exports import FORMULA_START, Column, copy_out, csv_text, guarded_sql
from reports.figures import BUCKET_LABELS, EDGES, bucket_of, positions_in

CHUNK = 2000
MARK = b"\x01"  # around a name's token in the lines PostgreSQL writes: one split finds every name
# The raw (encrypted) name column: read as text, without the field's one-at-a-time decryption.
_SEALED_NAME = ExpressionWrapper(F("client__full_name"), output_field=TextField())
_FIELDS = ("client_id", "client__account_number", "sealed_name", "client__zone__name", "client__category__name",
           "balance", "oldest_due")


class AgingRow(NamedTuple):
    """A client owing, as the aging list and its download show it."""

    client_id: int
    account: str
    name: str
    zone: str
    category: str
    balance: Decimal
    oldest_due: date | None
    days_past_due: int | None  # None: no bill unpaid (a charge not billed yet); 0: not yet due
    bucket: str

    @property
    def bucket_label(self) -> str:
        return BUCKET_LABELS[self.bucket]


AGING_COLUMNS = [
    Column("Account", lambda r: r.account), Column("Client", lambda r: r.name), Column("Zone", lambda r: r.zone),
    Column("Category", lambda r: r.category), Column("Balance (KES)", lambda r: r.balance, "money"),
    Column("Oldest unpaid due", lambda r: r.oldest_due, "date"),
    Column("Days past due", lambda r: r.days_past_due, "int"), Column("Bucket", lambda r: r.bucket_label),
]


def days_past_due(oldest_due: date | None, today: date) -> int | None:
    return None if oldest_due is None else max((today - oldest_due).days, 0)


def _aging_values(bucket: str | None, today: date, zone: int | None, category: int | None) -> QuerySet[Any]:
    return (positions_in(bucket, today=today, zone=zone, category=category).select_related(None)
            .annotate(sealed_name=_SEALED_NAME).values_list(*_FIELDS))


def aging_rows(*, today: date | None = None, bucket: str | None = None, zone: int | None = None,
               category: int | None = None) -> Iterator[AgingRow]:
    """Every client owing (only the bucket, zone (0: none) or category given), biggest balance
    first: one statement, read CHUNK rows at a time."""
    today = today or timezone.localdate()
    rows = _aging_values(bucket, today, zone, category).iterator(chunk_size=CHUNK)
    while chunk := list(islice(rows, CHUNK)):
        names = decrypt_many([r[2] for r in chunk])
        for (pk, account, _, zone_name, category_name, balance, due), name in zip(chunk, names, strict=True):
            yield AgingRow(pk, account, name, zone_name or "", category_name, balance, due,
                           days_past_due(due, today), bucket_of(due, today))


_PLACEHOLDER = re.compile(r"%(%|s)")


def aging_copy_sql(*, today: date | None = None, bucket: str | None = None, zone: int | None = None,
                   category: int | None = None) -> tuple[str, dict[str, Any]]:
    """The SELECT behind `aging_rows` (positions with the client's account number, encrypted
    name, zone and category names, balance and oldest unpaid due date), with named parameters:
    `cursor.copy(f"COPY ({sql}) TO STDOUT WITH CSV", params)`. Made by the ORM from the same
    queryset, so it names the tables through their apps' models."""
    sql, positional = _aging_values(bucket, today or timezone.localdate(), zone, category).query.sql_with_params()
    numbers = iter(range(len(positional)))

    def named(match: re.Match[str]) -> str:
        return "%%" if match.group(1) == "%" else f"%(p{next(numbers)})s"

    return _PLACEHOLDER.sub(named, sql), {f"p{i}": value for i, value in enumerate(positional)}


# --- the aging download as CSV, written by PostgreSQL ---------------------------------------------
# PostgreSQL writes every CSV line (COPY ... TO STDOUT, FORMAT csv, streamed while Python works):
# numbers, ISO dates, days past due and the bucket as the page shows them, text cells that a
# spreadsheet would take for a formula behind a `'` (majismart.exports.guarded_sql), quoted by COPY
# as Python's csv module quotes. The name column holds the stored token's body (URL-safe base64:
# never quoted, never a comma) between two MARKs. Python handles a chunk of lines with a few
# whole-text operations: one split at the MARKs finds every body and the text between them, the
# chunk's names are opened in one go (majismart.crypto.open_many_bytes), and the bytes are joined
# again with the names in. A MARK in another cell (text a person typed) is told by the count of
# them, and that chunk is taken a line at a time.
# The columns are AGING_COLUMNS'.


def _bucket_case(days: str) -> str:
    """The bucket label of `days` past due: reports.figures.bucket_of in SQL, made from the same
    edges and labels."""
    parts = [f"WHEN {days} IS NULL OR {days} <= 0 THEN '{BUCKET_LABELS['current']}'"]
    parts += [f"WHEN {days} BETWEEN {low} AND {high} THEN '{BUCKET_LABELS[name]}'" for name, low, high in EDGES]
    return "CASE " + " ".join(parts) + f" ELSE '{BUCKET_LABELS['90+']}' END"


def aging_csv_copy(*, today: date | None = None, bucket: str | None = None, zone: int | None = None,
                   category: int | None = None, iso_dates: bool = False) -> tuple[str, dict[str, Any]]:
    """The COPY statement of the aging CSV's lines, the name column as the stored token's body
    between two MARKs (none between them for no name; an empty cell, no MARKs, for a stored value
    that is not a token). `iso_dates`: the session writes dates as YYYY-MM-DD already (DateStyle
    ISO), so they need no formatting."""
    today = today or timezone.localdate()
    sql, params = aging_copy_sql(today=today, bucket=bucket, zone=zone, category=category)
    columns = ("client_id", "account", "sealed", "zone", "category", "balance", "oldest_due")
    due = "q.oldest_due" if iso_dates else "to_char(q.oldest_due, 'YYYY-MM-DD')"
    return (f"COPY (SELECT {guarded_sql('q.account')}, "  # noqa: S608 - ours
            f"CASE WHEN q.sealed = %(empty)s THEN %(mark)s || %(mark)s WHEN left(q.sealed, %(cut)s) = %(prefix)s "
            f"AND length(q.sealed) > %(cut)s THEN %(mark)s || substr(q.sealed, %(cut)s + 1) || %(mark)s END, "
            f"{guarded_sql('nullif(q.zone, %(empty)s)')}, {guarded_sql('q.category')}, q.balance, {due}, "
            f"CASE WHEN d.days < 0 THEN 0 ELSE d.days END, {_bucket_case('d.days')} "
            f"FROM ({sql}) AS q({', '.join(columns)}) "
            f"CROSS JOIN LATERAL (SELECT %(today)s::date - q.oldest_due AS days) AS d "
            f"ORDER BY q.balance DESC, q.client_id) TO STDOUT (FORMAT csv)",
            {**params, "today": today, "empty": "", "prefix": PREFIX, "cut": len(PREFIX), "mark": MARK.decode()})


# What makes a name need csv_text, looked for in a chunk's names joined by line ends.
_FORMULA_FIRST = tuple(c.encode() for c in FORMULA_START)
# csv_text's quote characters (a line end is told by the count of them) and formula starts.
_NAMES_SPECIAL = (b'"', b",", b"\r") + tuple(b"\n" + c for c in _FORMULA_FIRST)
_QUOTED_FIRST = re.compile(r'"(?:[^"]|"")*"')


def _names(bodies: list[bytes]) -> list[bytes]:
    """The names of the tokens' bodies as CSV cells (UTF-8): as they are, unless one needs a
    formula guard or quotes (a few searches over the chunk's names tell)."""
    names = open_many_bytes(bodies)
    joined = b"\n".join(names)
    if (joined.count(b"\n") == len(names) - 1 and joined[:1] not in _FORMULA_FIRST
            and not any(special in joined for special in _NAMES_SPECIAL)):
        return names
    return [csv_text(v.decode()).encode() for v in names]


def _with_names(rows: list[Any]) -> bytes:
    """COPY's lines (`account,MARK body MARK,rest`, a line end each) as the download's
    (`account,name,rest`)."""
    # NUL is never in PostgreSQL's text: it marks where each line (one message) ends, as a quoted
    # cell may hold a line end of its own.
    data = b"\0".join(rows) + b"\0"
    parts = data.split(MARK)  # [before the 1st body, 1st body, between, 2nd body, ...]
    if len(parts) != 2 * len(rows) + 1:  # a name not a token, or a MARK in another cell
        return _line_by_line(data.decode())
    parts[1::2] = _names(parts[1::2])
    return b"".join(parts).replace(b"\n\0", b"\r\n")


def _line_by_line(text: str) -> bytes:
    """`_with_names` one line at a time: the account cell (quoted or not), then the name's cell."""
    cut = []
    mark = MARK.decode()
    for line in text.split("\n\0")[:-1]:
        account_end = _QUOTED_FIRST.match(line).end() if line.startswith('"') else line.index(",")  # type: ignore[union-attr]
        if line[account_end + 1 : account_end + 2] != mark:
            raise ValueError("value is not an encrypted token")
        name_end = line.index(mark, account_end + 2)
        cut.append((line[:account_end], line[account_end + 2 : name_end], line[name_end + 1 :]))
    try:
        names = _names([body.encode("ascii") for _, body, _ in cut])
    except UnicodeEncodeError as exc:
        raise Undecryptable("cannot decrypt: not a token") from exc
    return b"".join([b"%s,%s%s\r\n" % (account.encode(), name, rest.encode())
                     for (account, _, rest), name in zip(cut, names, strict=True)])


def aging_csv(*, today: date | None = None, bucket: str | None = None, zone: int | None = None,
              category: int | None = None) -> Iterator[bytes]:
    """The aging download's CSV, streamed: the BOM and headings, then PostgreSQL's lines with the
    names put in, CHUNK lines at a time (memory flat whatever the number of rows)."""
    from django.db import connection

    connection.ensure_connection()
    iso = connection.connection.info.parameter_status("DateStyle") or ""
    sql, params = aging_csv_copy(today=today, bucket=bucket, zone=zone, category=category,
                                 iso_dates=iso.startswith("ISO"))
    yield ("\ufeff" + ",".join(csv_text(c.header) for c in AGING_COLUMNS) + "\r\n").encode()
    with connection.cursor() as cursor:
        rows: list[Any] = []  # PostgreSQL sends each row of a COPY TO as one message
        for data in copy_out(cursor, sql, params):
            rows.append(data)  # a memoryview; joined as bytes
            if len(rows) == CHUNK:
                yield _with_names(rows)
                rows = []
        if rows:
            yield _with_names(rows)
