"""majismart.exports' CSV lines: the short way per kind writes what the general one does."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

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


def test_lines_are_sent_in_chunks_and_all_of_them() -> None:
    chunks = list(csv_lines([Column("n", lambda r: r, "int")], range(LINES_PER_CHUNK * 2 + 1)))
    assert len(chunks) == 4  # the header, two full chunks, the rest
    assert "".join(chunks).count("\r\n") == LINES_PER_CHUNK * 2 + 2
