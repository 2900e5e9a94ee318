"""Not part of the suite (pytest collects test_*.py only): the full aging download of 100,000
clients owing against PostgreSQL's `COPY (the same SELECT) TO STDOUT`, in the test database.

    .venv/bin/python -m pytest -q -s tests/reports/bench_aging_export.py

Prints the seconds of each (best of 3), their ratio, the download's peak Python memory, the
names' decryption one by one (Fernet) and by decrypt_many, and the XLSX download's seconds."""

from __future__ import annotations

import tracemalloc
from datetime import date, timedelta
from decimal import Decimal
from time import perf_counter

from django.db import connection

from clients.models import Category, Client, Zone
from majismart.crypto import decrypt, decrypt_many
from majismart.exports import csv_lines, xlsx_write
from reports.exports import _SEALED_NAME, AGING_COLUMNS, aging_copy_sql, aging_rows
from reports.models import Position

N = 100_000
TODAY = date(2026, 11, 23)


def _world() -> None:
    zones = [Zone.objects.create(code=f"z{i}", name=f"Zone {i}") for i in range(10)]
    domestic = Category.objects.get(code="domestic")
    Client.objects.bulk_create((Client(account_number=f"A{i:06d}", full_name=f"Client Number {i}", category=domestic,
                                       zone=zones[i % 10] if i % 7 else None) for i in range(N)), batch_size=5000)
    ids = list(Client.objects.values_list("pk", flat=True))
    Position.objects.bulk_create((Position(client_id=pk, balance=Decimal(100 + pk % 5000),
                                           oldest_due=TODAY - timedelta(days=pk % 200) if pk % 11 else None)
                                  for pk in ids), batch_size=5000)


def _copy() -> float:
    sql, params = aging_copy_sql(today=TODAY)
    started = perf_counter()
    with connection.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT WITH CSV", params) as copy:
        size = sum(len(block) for block in copy)
    assert size > 0
    return perf_counter() - started


def _download() -> float:
    started = perf_counter()
    lines = sum(chunk.count("\n") for chunk in csv_lines(AGING_COLUMNS, aging_rows(today=TODAY)))
    assert lines == N + 1
    return perf_counter() - started


def test_bench(tenant, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _world()
    copy = min(_copy() for _ in range(3))
    download = min(_download() for _ in range(3))
    tracemalloc.start()
    _download()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tokens = list(Position.objects.annotate(sealed=_SEALED_NAME).values_list("sealed", flat=True))
    started = perf_counter()
    one_by_one = [decrypt(t) for t in tokens]
    fernet = perf_counter() - started
    started = perf_counter()
    assert decrypt_many(tokens) == one_by_one
    many = perf_counter() - started
    print(f"\n{N} names: Fernet one by one {fernet:.3f} s, decrypt_many {many:.3f} s")
    started = perf_counter()
    xlsx_write(str(tmp_path / "aging.xlsx"), [("Aging", AGING_COLUMNS, aging_rows(today=TODAY))])
    xlsx = perf_counter() - started
    print(f"\n{N} rows: COPY {copy:.3f} s, CSV download {download:.3f} s (x{download / copy:.2f}), "
          f"XLSX {xlsx:.3f} s, CSV peak Python memory {peak / 1e6:.1f} MB")
