"""majismart.exports' CSV lines: the short way per kind writes what the general one does."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from majismart.exports import LINES_PER_CHUNK, Column, _csv_text, _plain, csv_lines

VALUES = {
    "text": ["Ann", "", None, "=1+1", "-5", "+x", "@sum", "a,b \"c\"", 7, True],
    "money": [Decimal("12.5"), Decimal("-3.005"), Decimal("0"), 12, "4.1", None, ""],
    "m3": [Decimal("1.23456"), 3, None],
    "int": [3, True, Decimal("4"), None, "5"],
    "date": [date(2026, 11, 23), datetime(2026, 10, 31, 21, 30, tzinfo=UTC), None],
    "datetime": [datetime(2026, 10, 31, 21, 30, tzinfo=UTC), None],
    "percent": [Decimal("59.03"), None],
}


def test_each_cell_is_written_as_the_general_rule_says() -> None:
    for kind, values in VALUES.items():
        columns = [Column("v", lambda r: r, kind)]
        text = "".join(csv_lines(columns, values))
        got = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))[1:]
        assert got == [[_csv_text(_plain(v, kind))] for v in values], kind
    assert "".join(csv_lines([Column("d", lambda r: r, "date")], [datetime(2026, 10, 31, 21, 30, tzinfo=UTC)])
                   ).endswith("2026-11-01\r\n")  # Nairobi's day
    assert "".join(csv_lines([Column("t", lambda r: r)], ["=cmd"])).endswith("'=cmd\r\n")


@pytest.mark.parametrize(("text", "written"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("+254711000000", "+254711000000"), ("+2547110000001234567", "'+2547110000001234567"),
    ("Ann Atieno", "Ann Atieno")])
def test_a_cell_a_spreadsheet_would_run_is_written_behind_a_quote_but_a_phone_number_is_not(text: str, written: str) -> None:
    line = "".join(csv_lines([Column("t", lambda r: r)], [text])).splitlines()[1]
    assert next(csv.reader([line])) == [written]


def test_lines_are_sent_in_chunks_and_all_of_them() -> None:
    chunks = list(csv_lines([Column("n", lambda r: r, "int")], range(LINES_PER_CHUNK * 2 + 1)))
    assert len(chunks) == 4  # the header, two full chunks, the rest
    assert "".join(chunks).count("\r\n") == LINES_PER_CHUNK * 2 + 2


@pytest.mark.django_db
def test_copy_out_hands_over_every_row_and_the_statements_error() -> None:
    """copy_out takes what libpq has buffered without waiting and psycopg's wait otherwise: every
    row arrives once and in order, a COPY failing after its first rows raises (not a short file),
    and the connection answers the next statement either way."""
    from django.db import connection, transaction
    from psycopg import DatabaseError

    from majismart.exports import copy_out

    with connection.cursor() as cursor:
        rows = [bytes(r) for r in copy_out(cursor, "COPY (SELECT g, repeat('x', g %% 50 + 1) FROM generate_series(1, %(n)s) g) TO STDOUT (FORMAT csv)", {"n": 20000})]
        assert rows == [f"{g},{'x' * (g % 50 + 1)}\n".encode() for g in range(1, 20001)]
        seen = []
        with pytest.raises(DatabaseError, match="division by zero"), transaction.atomic():  # a savepoint: the test's transaction goes on
            for row in copy_out(cursor, "COPY (SELECT 1 / (15000 - g) FROM generate_series(1, 20000) g) TO STDOUT", {}):
                seen.append(row)
        assert 0 < len(seen) < 15000
        cursor.execute("SELECT 41 + 1")
        assert cursor.fetchone() == (42,)
