"""Importing 100,000 readings for 100,000 meters from CSV, against PostgreSQL COPY of the same rows (baseline).

The import validates every row (meter, value, time, previous and later readings, repeats),
computes consumption and anomaly flags and stores the readings. The baseline COPYs the same
readings, already resolved to meter ids, into a table made LIKE meters_reading (same columns,
indexes, checks and foreign key, logged), so both write the same rows into the same structure; a
second figure copies the raw CSV into an unindexed temporary table, the floor of any import.
Target: the import within 5x of COPY, memory flat (resident size sampled after every chunk).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import date

import psutil
from _verdict import Verdict
from django.db import connection
from django_tenants.utils import tenant_context

N = int(os.environ.get("BENCH_READINGS", "100000"))


def _setup(provider) -> str:  # type: ignore[no-untyped-def]
    """N clients with one meter each (loaded with COPY: this is set-up, not the measurement)."""
    from clients.models import Category
    from majismart.crypto import encrypt, word_tokens

    category = Category.objects.get(code="domestic").pk
    with connection.cursor() as cursor:
        # Names encrypted at rest, with their search tokens, as the register stores them.
        with cursor.copy("COPY clients_client (account_number, full_name, name_tokens, phone, phone_index, email, "
                         "email_index, national_id, national_id_index, category_id, location, status, "
                         "opening_balance, created, updated) FROM STDIN") as copy:
            for i in range(N):
                name = f"Bench Client {i}"
                copy.write_row((f"B{i:07d}", encrypt(name), word_tokens(name), "", "", "", "", "", "", category, "",
                                "active", 0, "2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z"))
        cursor.execute("INSERT INTO meters_meter (serial, client_id, installed_on, initial_reading, dial_capacity, "
                       "status, created) SELECT 'M' || substr(account_number, 2), id, %s, 100, 99999.999, 'active', "
                       "now() FROM clients_client WHERE account_number LIKE 'B%%'", [date(2025, 1, 1)])
    with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", delete=False) as fh:
        path = fh.name
        writer = csv.writer(fh)
        writer.writerow(["meter", "value", "read_at"])
        for i in range(N):
            writer.writerow([f"M{i:07d}", f"{100 + (i % 40) + 0.125:.3f}", "2025-02-01T08:00:00+03:00"])
    return path


def _copy_same_rows(path: str, *, foreign_key: bool) -> float:
    """COPY the same readings into a table shaped like meters_reading."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE copy_readings (LIKE meters_reading INCLUDING ALL)")
        if foreign_key:
            # LIKE copies indexes and checks but not foreign keys; add the one Django made (deferred).
            cursor.execute("ALTER TABLE copy_readings ADD FOREIGN KEY (meter_id) REFERENCES meters_meter (id) "
                           "DEFERRABLE INITIALLY DEFERRED")
        cursor.execute("SELECT serial, id FROM meters_meter")
        ids = dict(cursor.fetchall())
        buffer = io.StringIO()
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            for serial, value, read_at in reader:
                buffer.write(f"{ids[serial]}\t{value}\t{read_at}\t{value}\tcsv\t\taccepted\t{{}}\t\t2025-02-01\n")
        buffer.seek(0)
        started = time.perf_counter()
        with cursor.copy("COPY copy_readings (meter_id, value, read_at, consumption, source, reason, status, flags, "
                         "note, created) FROM STDIN") as copy:
            while block := buffer.read(1 << 16):
                copy.write(block)
        elapsed = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM copy_readings")
        assert cursor.fetchone()[0] == N
        cursor.execute("DROP TABLE copy_readings")
    return elapsed


def _copy_raw(path: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE copy_baseline (meter text, value numeric(12,3), read_at timestamptz)")
        started = time.perf_counter()
        with open(path, "rb") as fh, cursor.copy("COPY copy_baseline FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            while block := fh.read(1 << 16):
                copy.write(block)
        elapsed = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM copy_baseline")
        assert cursor.fetchone()[0] == N
        cursor.execute("DROP TABLE copy_baseline")
    return elapsed


def run() -> Iterator[str]:
    from meters.imports import readings_import
    from meters.models import Reading
    from tenants.services import provider_create

    provider = provider_create(name="Bench Readings", slug="bench-readings", owner_email="o@bench.test",
                               owner_password="bench-password-1").provider
    with tenant_context(provider):
        path = _setup(provider)
        copy_seconds = _copy_same_rows(path, foreign_key=True)
        copy_no_fk_seconds = _copy_same_rows(path, foreign_key=False)
        raw_seconds = _copy_raw(path)
        process = psutil.Process()
        samples: list[int] = []
        started = time.perf_counter()
        with open(path, "rb") as fh:
            summary = readings_import(fh, progress=lambda _n: samples.append(process.memory_info().rss), chunk=25_000)
        import_seconds = time.perf_counter() - started
        stored = Reading.objects.count()
        os.unlink(path)
    ratio = import_seconds / copy_seconds
    floor_ratio = import_seconds / raw_seconds
    growth = (max(samples) - samples[0]) / 2**20 if samples else 0.0
    yield f"rows: {N}; imported {summary.created}, errors {summary.error_count}, flagged {summary.flagged}; stored {stored}"
    yield f"COPY of the same rows into a meters_reading-shaped table with its foreign key (baseline): {copy_seconds:.3f} s"
    yield f"the same COPY without the foreign key check: {copy_no_fk_seconds:.3f} s"
    yield f"COPY of the raw CSV into an unindexed temp table (floor): {raw_seconds:.3f} s"
    yield f"import:          {import_seconds:.3f} s  ({N / import_seconds:,.0f} rows/s)"
    yield Verdict("readings import / COPY", f"{ratio:.1f}x", "<= 5x", ratio <= 5,
                  f"ratio import/COPY: {ratio:.1f}x (target <= 5x: {ratio <= 5}); without the foreign key: "
                  f"{import_seconds / copy_no_fk_seconds:.1f}x; against the raw floor: {floor_ratio:.1f}x")
    yield (f"memory: resident {samples[0] / 2**20:.0f} MiB after the first chunk, +{growth:.1f} MiB over "
           f"the remaining {len(samples) - 1} chunks")
