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

from majismart.crypto import PREFIX, decrypt_many, open_many
from majismart.exports import Column, csv_text, csv_text_sql
from reports.figures import BUCKET_LABELS, EDGES, bucket_of, positions_in

CHUNK = 2000
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
# PostgreSQL writes every CSV cell but the name (majismart.exports.csv_text_sql: a text cell that a
# spreadsheet would take for a formula behind a `'`, quoted as CSV quotes; numbers, ISO dates, days
# past due and the bucket as the page shows them) and hands them over CHUNK clients to a row, in
# order (COPY ... FORMAT binary of arrays: one message per chunk, nothing parsed per line in Python):
# the cells before the name, the name's Fernet token already base64-decoded, the cells after it.
# Python opens the chunk's names in one go (majismart.crypto.open_many) and joins the lines.
# The columns are AGING_COLUMNS'.


def _bucket_case(today_param: str) -> str:
    """The bucket label of `q.oldest_due` on the day given: reports.figures.bucket_of in SQL, made
    from the same edges and labels."""
    days = f"({today_param}::date - q.oldest_due)"
    parts = [f"WHEN q.oldest_due IS NULL OR {days} <= 0 THEN '{BUCKET_LABELS['current']}'"]
    parts += [f"WHEN {days} BETWEEN {low} AND {high} THEN '{BUCKET_LABELS[name]}'" for name, low, high in EDGES]
    return "CASE " + " ".join(parts) + f" ELSE '{BUCKET_LABELS['90+']}' END"


def aging_csv_copy(*, today: date | None = None, bucket: str | None = None, zone: int | None = None,
                   category: int | None = None) -> tuple[str, dict[str, Any]]:
    """The COPY statement of the aging CSV: a row per CHUNK clients, biggest balance first, of
    three arrays: the cells before each name, each name's token (decoded; empty: no name; NULL:
    not a token) and the cells after it."""
    today = today or timezone.localdate()
    sql, params = aging_copy_sql(today=today, bucket=bucket, zone=zone, category=category)
    params["today"] = today
    columns = ("client_id", "account", "sealed", "zone", "category", "balance", "oldest_due")
    after = " || ',' || ".join([
        csv_text_sql("coalesce(q.zone, '')"), csv_text_sql("q.category"), "q.balance::text",
        "coalesce(to_char(q.oldest_due, 'YYYY-MM-DD'), '')",
        "CASE WHEN q.oldest_due IS NULL THEN '' ELSE greatest(%(today)s::date - q.oldest_due, 0)::text END", csv_text_sql(_bucket_case("%(today)s"))])
    token = (f"CASE WHEN q.sealed = '' THEN ''::bytea WHEN left(q.sealed, {len(PREFIX)}) = '{PREFIX}' "
             f"AND length(q.sealed) > {len(PREFIX)} THEN decode(translate(substr(q.sealed, {len(PREFIX) + 1}), '-_', '+/'), 'base64') END")
    return (f"COPY (SELECT array_agg(q.before ORDER BY q.at), array_agg(q.token ORDER BY q.at), "  # noqa: S608 - ours
            f"array_agg(q.after ORDER BY q.at) FROM (SELECT row_number() OVER (ORDER BY q.balance DESC, q.client_id) "
            f"AS at, {csv_text_sql('q.account')} AS before, {token} AS token, {after} AS after "
            f"FROM ({sql}) AS q({', '.join(columns)})) AS q GROUP BY (q.at - 1) / {CHUNK} "
            f"ORDER BY (q.at - 1) / {CHUNK}) TO STDOUT (FORMAT binary)", params)


_NAME_SPECIAL = re.compile(r'^[-=+@\t\r]|[",\r\n]')


def _lines(before: list[str], tokens: list[bytes | None], after: list[str]) -> bytes:
    if None in tokens:
        raise ValueError("value is not an encrypted token")
    names = [csv_text(n) if _NAME_SPECIAL.search(n) else n for n in open_many(tokens)]  # type: ignore[arg-type]
    return "".join([f"{b},{n},{a}\r\n" for b, n, a in zip(before, names, after, strict=True)]).encode()


def aging_csv(*, today: date | None = None, bucket: str | None = None, zone: int | None = None,
              category: int | None = None) -> Iterator[bytes]:
    """The aging download's CSV, streamed: the BOM and headings, then PostgreSQL's cells with the
    names put in, CHUNK lines at a time (memory flat whatever the number of rows)."""
    from django.db import connection

    sql, params = aging_csv_copy(today=today, bucket=bucket, zone=zone, category=category)
    yield ("\ufeff" + ",".join(csv_text(c.header) for c in AGING_COLUMNS) + "\r\n").encode()
    with connection.cursor() as cursor, cursor.cursor.copy(sql, params) as copy:
        copy.set_types(["text[]", "bytea[]", "text[]"])
        for before, tokens, after in copy.rows():
            yield _lines(before, tokens, after)
