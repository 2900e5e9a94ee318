"""Billing a month for 100,000 clients (compute + finalise) against PostgreSQL COPY of the same output rows (baseline).

A provider with N clients in four categories (graduated tariffs, fixed charges, meter rent,
sewerage, a minimum charge), one meter each and a year of monthly readings (about 2% missing
each month, so some invoices are estimates and later true-ups); 85% of clients pay their bills,
the rest are charged a 2% late-payment penalty. August and September 2026 are billed and paid
first (untimed), each on the 2nd of the next month, so the timed run for October 2026 finds
earlier invoices, estimates, balances and overdue amounts like a real one.

Timed: billing_run_start (the draft: facts, lines, invoices) and billing_run_finalize (which
recomputes the draft only if data changed since it, then writes numbers, due dates and ledger
entries). Baseline: the invoices,
invoice lines, ledger entries and invoice meters that run produced, exported with COPY TO and
COPIed back, in one transaction, into tables made LIKE the real ones (same columns, indexes,
checks, unique constraints and foreign keys); a second figure without the foreign keys. Each
timed section starts after a CHECKPOINT, so neither pays for what was written before it.
Memory: the peak of Python's own allocations during the run (tracemalloc) and the peak resident
size above the size before it (sampled). Without REDIS_URL the after-commit task runs eagerly
inside the finalise and is counted. Run at two sizes
(BENCH_CLIENTS_SMALL, then BENCH_CLIENTS) to show whether memory stays flat and throughput holds
as clients grow.
Target: the run within 3x of COPY, memory flat.

Standalone: python bench/billing_run.py --clients 100000 --small 20000
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
import tracemalloc
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psutil
from _verdict import Verdict
from django.db import DatabaseError, connection, transaction

N = int(os.environ.get("BENCH_CLIENTS", "100000"))
SMALL = int(os.environ.get("BENCH_CLIENTS_SMALL", "20000"))  # 0: only the N run
NAIROBI = ZoneInfo("Africa/Nairobi")
FIRST_READING_MONTH = date(2025, 11, 1)  # readings on the last day of Nov 2025 ... Oct 2026
PRIOR_PERIODS = ("2026-08", "2026-09")  # billed, finalised and paid before the timed run
TIMED_PERIOD = "2026-10"
D = Decimal

# Client categories by share of the register (per 100 clients), with their tariff:
# (share, blocks [(up_to m³ | None, KES/m³)], fixed charge, meter rent, sewerage %, minimum charge).
TARIFFS = {
    "domestic": (88, [(D(10), D(40)), (D(30), D(55)), (None, D(70))], D(100), D(0), D(0), D(0)),
    "commercial": (8, [(D(10), D(55)), (D(30), D(70)), (None, D(85))], D(250), D(50), D(25), D(0)),
    "institutional": (3, [(D(50), D(60)), (None, D(75))], D(500), D(50), D(25), D(1000)),
    "kiosk": (1, [(None, D(35))], D(0), D(0), D(0), D(2500)),
}


def _month_index(period: str) -> int:
    """1 for the first month with a reading (2025-11) ... 12 for 2026-10."""
    year, month = map(int, period.split("-"))
    return (year - FIRST_READING_MONTH.year) * 12 + month - FIRST_READING_MONTH.month + 1


def _billing_day(period: str) -> datetime:
    """A period is billed on the 2nd of the next month, mid-morning in Nairobi."""
    year, month = map(int, period.split("-"))
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return datetime.combine(first_next + timedelta(days=1), datetime.min.time(), tzinfo=NAIROBI).replace(hour=10)


def _travel(moment: datetime):  # type: ignore[no-untyped-def]
    """Python's clock set to `moment` (runs.py takes "today" and "now" from Django, not the server)."""
    import time_machine

    return time_machine.travel(moment, tick=True)


# --- set-up (untimed) ------------------------------------------------------------------------

_CLIENTS_SQL = """
INSERT INTO clients_client (account_number, full_name, name_tokens, phone, phone_index, email, email_index,
                            national_id, national_id_index, category_id, location, status, opening_balance, created,
                            updated)
SELECT 'B' || lpad(i::text, 7, '0'), 'Bench Client ' || i, '{}', '', '', '', '', '', '', c.id, '', 'active', 0,
       %(at)s, %(at)s
FROM generate_series(0, %(n)s - 1) i
JOIN (SELECT id, code, sum(share) OVER (ORDER BY code) - share AS lo, sum(share) OVER (ORDER BY code) AS hi
      FROM clients_category JOIN unnest(%(codes)s::text[], %(shares)s::int[]) s (scode, share) ON scode = code) c
  ON i %% 100 >= c.lo AND i %% 100 < c.hi
"""

_METERS_SQL = """
INSERT INTO meters_meter (serial, client_id, installed_on, initial_reading, dial_capacity, status, created)
SELECT 'M' || substr(account_number, 2), id, %(installed)s, 100, 99999.999, 'active', %(at)s
FROM clients_client WHERE account_number LIKE 'B%%'
"""

# A year of monthly readings per meter, deterministic: each month's use is 5-60 m³ (from a hash
# of meter and month); about 2% of readings are never taken, so the next one covers two months.
# Consumption is worked out against the previous reading actually taken (or the initial 100).
# Only the months first..last are inserted: each is recorded before the period it closes is billed.
_READINGS_SQL = """
INSERT INTO meters_reading (meter_id, value, read_at, consumption, source, reason, status, flags, note, created)
WITH months AS (
    SELECT m.id AS meter_id, k,
           (%(first)s::date + k * interval '1 month' - interval '1 day' + interval '8 hours')
               AT TIME ZONE 'Africa/Nairobi' AS read_at,
           100 + sum(5 + ((hashtext(m.id || '/' || k) & 2147483647) %% 55001) / 1000.0)
               OVER (PARTITION BY m.id ORDER BY k) AS value,
           (hashtext(m.id || ':' || k) & 2147483647) %% 50 <> 0 AS taken
    FROM meters_meter m CROSS JOIN generate_series(1, 12) k
), taken AS (
    SELECT meter_id, k, read_at, value,
           value - coalesce(lag(value) OVER (PARTITION BY meter_id ORDER BY k), 100) AS consumption
    FROM months WHERE taken
)
SELECT meter_id, value, read_at, consumption, 'csv', '', 'accepted', '{}', '', read_at + interval '2 hours'
FROM taken WHERE k BETWEEN %(from_k)s AND %(to_k)s
"""

# 85% of clients pay an issued period's invoices in full on the 10th of the next month.
_PAYMENTS_SQL = """
INSERT INTO billing_ledgerentry (client_id, kind, amount, booked_on, reference, description, created)
SELECT client_id, 'payment', -total, %(day)s, 'PAY' || id, 'M-Pesa payment', %(at)s
FROM billing_invoice WHERE period = %(period)s AND total > 0 AND (hashtext(client_id || 'pays') & 2147483647) %% 100 < 85
"""


def _seed(n: int) -> None:
    """Tariffs, billing terms, n clients and their meters, as they were on 1 November 2025."""
    from billing.models import BillingSettings
    from billing.services import tariff_create
    from clients.models import Category

    at = datetime(2025, 11, 1, 9, tzinfo=NAIROBI)
    with _travel(at):
        rules = BillingSettings.load()
        rules.due_days, rules.penalty_percent, rules.penalty_grace_days = 14, D(2), 0
        rules.save()
        for code, (_share, blocks, fixed, rent, sewerage, minimum) in TARIFFS.items():
            tariff_create(actor="bench", blocks=blocks, code=code, name=code.title(),
                          category=Category.objects.get(code=code), effective_from=date(2025, 1, 1),
                          fixed_charge=fixed, meter_rent=rent, sewerage_percent=sewerage, minimum_charge=minimum)
    with connection.cursor() as cursor:
        cursor.execute(_CLIENTS_SQL, {"n": n, "at": at, "codes": list(TARIFFS),
                                      "shares": [share for share, *_ in TARIFFS.values()]})
        cursor.execute(_METERS_SQL, {"installed": at.date(), "at": at})
    seal_client_names()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE clients_client; ANALYZE meters_meter")


def seal_client_names() -> None:
    """Names are encrypted at rest with their search tokens (clients 0004): the clear names the
    set-up inserted are encrypted as that migration does it."""
    from types import SimpleNamespace

    from majismart.crypto import word_tokens
    from majismart.crypto_migrations import encrypt_columns

    encrypt_columns(SimpleNamespace(connection=connection), "clients_client", ["full_name", "location"],
                    extra=lambda clear: {"name_tokens": word_tokens(clear["full_name"])})


def _record_readings(through: str, after: str | None) -> None:
    """The readings of the months after `after` up to `through` (inclusive)."""
    from_k = _month_index(after) + 1 if after else 1
    with connection.cursor() as cursor:
        cursor.execute(_READINGS_SQL, {"first": FIRST_READING_MONTH, "from_k": from_k, "to_k": _month_index(through)})
        cursor.execute("ANALYZE meters_reading")


def _bill_prior_periods() -> None:
    """Bill, finalise and collect payments for the periods before the timed one, in order."""
    from billing.runs import billing_run_finalize, billing_run_start

    previous = None
    for period in PRIOR_PERIODS:
        _record_readings(period, previous)
        with _travel(_billing_day(period)):
            run, _ = billing_run_start(period=period, actor="bench")
            billing_run_finalize(run=run, actor="bench")
        paid_on = _billing_day(period).date() + timedelta(days=8)
        with connection.cursor() as cursor:
            cursor.execute(_PAYMENTS_SQL, {"period": period, "day": paid_on,
                                           "at": datetime.combine(paid_on, datetime.min.time(), tzinfo=NAIROBI)})
            cursor.execute("ANALYZE billing_invoice; ANALYZE billing_invoiceline; ANALYZE billing_ledgerentry")
        previous = period
    _record_readings(TIMED_PERIOD, previous)


# --- measurement -----------------------------------------------------------------------------

def _checkpoint() -> None:
    """Flush what came before to disk, so each timed section starts on a clean slate and does not
    pay for the set-up's (or the other section's) dirty buffers. Needs superuser or pg_checkpoint;
    skipped without."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError:
        pass


class _PeakRSS:
    """Samples the resident set size every 5 ms in a thread; `peak` is the highest seen."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._stop = threading.Event()
        self.start_rss = self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> _PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


# The run's output rows, table by table: (real table, copy, query selecting the run's rows).
_OUTPUT = (
    ("billing_invoice", "copy_invoice", "SELECT * FROM billing_invoice WHERE run_id = {run} ORDER BY id"),
    ("billing_invoiceline", "copy_invoiceline",
     "SELECT l.* FROM billing_invoiceline l JOIN billing_invoice i ON i.id = l.invoice_id WHERE i.run_id = {run} "
     "ORDER BY l.id"),
    ("billing_ledgerentry", "copy_ledgerentry",
     "SELECT e.* FROM billing_ledgerentry e JOIN billing_invoice i ON i.id = e.invoice_id WHERE i.run_id = {run} "
     "ORDER BY e.id"),
    ("billing_invoicemeter", "copy_invoicemeter",
     "SELECT m.* FROM billing_invoicemeter m JOIN billing_invoice i ON i.id = m.invoice_id WHERE i.run_id = {run} "
     "ORDER BY m.id"),
)


def _export(run_id: int) -> dict[str, bytes]:
    """The run's output rows, table by table, as COPY text (in memory; not timed)."""
    exported: dict[str, bytes] = {}
    with connection.cursor() as cursor:
        for table, _copy_table, query in _OUTPUT:
            buffer = io.BytesIO()
            with cursor.copy(f"COPY ({query.format(run=int(run_id))}) TO STDOUT") as copy:
                for block in copy:
                    buffer.write(block)
            exported[table] = buffer.getvalue()
    return exported


def _copy_same_rows(exported: dict[str, bytes], *, foreign_keys: bool) -> float:
    """COPY the exported rows, in one transaction (one commit, like the run), into tables LIKE
    the real ones; returns the seconds taken."""
    copies = {table: copy_table for table, copy_table, _ in _OUTPUT}
    with connection.cursor() as cursor:
        for table, copy_table in copies.items():
            # LIKE ... INCLUDING ALL copies columns, defaults, identity, checks, indexes and unique
            # constraints, but not foreign keys.
            cursor.execute(f"CREATE TABLE {copy_table} (LIKE {table} INCLUDING ALL)")
        if foreign_keys:
            # The real tables' foreign keys (deferred, checked at commit), pointing at the copies
            # where the real ones point at a copied table (e.g. lines at copy_invoice).
            for table, copy_table in copies.items():
                cursor.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                               "AND contype = 'f'", [table])
                for (definition,) in cursor.fetchall():
                    for real, copied in copies.items():
                        definition = definition.replace(f"REFERENCES {real}(", f"REFERENCES {copied}(")
                    cursor.execute(f"ALTER TABLE {copy_table} ADD {definition}")
            # As many foreign keys among the copies as among the real tables.
            count_sql = ("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY(%(t)s::regclass[]) "
                         "AND confrelid = ANY(%(t)s::regclass[])")
            cursor.execute(count_sql, {"t": list(copies)})
            among_real = cursor.fetchone()[0]
            cursor.execute(count_sql, {"t": list(copies.values())})
            assert cursor.fetchone()[0] == among_real, "the copies' foreign keys must point at the copies"
    _checkpoint()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for table, data in exported.items():
            with cursor.copy(f"COPY {copies[table]} FROM STDIN") as copy:
                view = memoryview(data)
                for offset in range(0, len(view), 1 << 16):
                    copy.write(view[offset:offset + (1 << 16)])
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        for table, copy_table in copies.items():
            cursor.execute(f"SELECT count(*) FROM {copy_table}")  # noqa: S608 - our own table names
            assert cursor.fetchone()[0] == exported[table].count(b"\n"), copy_table
        cursor.execute(f"DROP TABLE {', '.join(reversed(copies.values()))}")
    return elapsed


def _measure(n: int) -> dict[str, object]:
    """Seed a provider with n clients, time the billing run, then the COPY baseline; drop it."""
    from django_tenants.utils import tenant_context

    from billing.models import BillingRun
    from billing.runs import billing_run_finalize, billing_run_start
    from tenants.models import Provider
    from tenants.services import provider_create

    slug = f"bench-billing-{n}"
    provider = provider_create(name=f"Bench Billing {n}", slug=slug, owner_email="o@bench.test",
                               owner_password="bench-password-1").provider
    try:
        with tenant_context(provider):
            started = time.perf_counter()
            _seed(n)
            _bill_prior_periods()
            setup = time.perf_counter() - started
            _checkpoint()
            with _travel(_billing_day(TIMED_PERIOD)), _PeakRSS() as rss:
                tracemalloc.start()
                started = time.perf_counter()
                run, created = billing_run_start(period=TIMED_PERIOD, actor="bench")
                computed = time.perf_counter()
                run = billing_run_finalize(run=run, actor="bench")
                finalized = time.perf_counter()
                _, python_peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
            assert created and run.status == BillingRun.Status.FINALIZED
            exported = _export(run.pk)
            rows = {table: data.count(b"\n") for table, data in exported.items()}
            assert rows["billing_invoice"] == run.invoice_count
            copy_seconds = _copy_same_rows(exported, foreign_keys=True)
            copy_no_fk_seconds = _copy_same_rows(exported, foreign_keys=False)
        return {"clients": n, "setup": setup, "compute": computed - started, "finalize": finalized - computed,
                "total": finalized - started, "copy": copy_seconds, "copy_no_fk": copy_no_fk_seconds, "rows": rows,
                "summary": run.summary, "python_peak": python_peak, "rss_start": rss.start_rss, "rss_peak": rss.peak}
    finally:
        connection.set_schema_to_public()
        Provider.objects.get(slug=slug).delete(force_drop=True)


def _report(m: dict[str, object]) -> Iterator[str]:
    rows, summary = m["rows"], m["summary"]
    invoices = rows["billing_invoice"]
    ratio = m["total"] / m["copy"]
    yield (f"clients: {m['clients']:,}; invoices {invoices:,} ({summary['estimated']:,} estimated, "
           f"{summary['trued_up']:,} trued up, {summary['penalties']:,} with a penalty), KES {D(summary['total']):,}; "
           f"lines {rows['billing_invoiceline']:,}; ledger entries {rows['billing_ledgerentry']:,}; "
           f"invoice meters {rows['billing_invoicemeter']:,}")
    yield (f"set-up, untimed (clients, a year of readings, {len(PRIOR_PERIODS)} earlier runs and payments): "
           f"{m['setup']:.1f} s")
    yield (f"run {TIMED_PERIOD}: compute {m['compute']:.3f} s + finalise {m['finalize']:.3f} s = {m['total']:.3f} s "
           f"({invoices / m['total']:,.0f} invoices/s; recomputed at finalise: "
           f"{summary.get('recomputed_at_finalize', 'always')}, changed since the preview: "
           f"{summary.get('changed_since_preview')})")
    yield f"COPY of the same rows into tables LIKE the real ones, with their foreign keys (baseline): {m['copy']:.3f} s"
    yield f"the same COPY without the foreign keys: {m['copy_no_fk']:.3f} s"
    yield Verdict("billing run / COPY of its rows", f"{ratio:.1f}x", "<= 3x", ratio <= 3,
                  f"ratio run/COPY: {ratio:.1f}x (target <= 3x: {ratio <= 3}); without the foreign keys: "
                  f"{m['total'] / m['copy_no_fk']:.1f}x")
    yield (f"memory during the run: Python allocations peak {m['python_peak'] / 2**20:.1f} MiB (tracemalloc); "
           f"resident size peak +{(m['rss_peak'] - m['rss_start']) / 2**20:.1f} MiB over "
           f"{m['rss_start'] / 2**20:.0f} MiB before (sampled)")


def run() -> Iterator[str]:
    # Without REDIS_URL the after-commit task runs eagerly, in the finalise; keep its log lines
    # (one per run, and kombu's note about the in-memory broker) out of the figures.
    for name in ("celery.app.trace", "kombu.connection"):
        logging.getLogger(name).setLevel(logging.ERROR)
    results = []
    for n in ([SMALL] if 0 < SMALL < N else []) + [N]:
        results.append(_measure(n))
        yield from _report(results[-1])
    if len(results) == 2:
        small, large = results
        throughput = (large["rows"]["billing_invoice"] / large["total"]) / (small["rows"]["billing_invoice"] / small["total"])
        yield (f"{small['clients']:,} -> {large['clients']:,} clients: throughput x{throughput:.2f}; Python peak "
               f"{small['python_peak'] / 2**20:.1f} -> {large['python_peak'] / 2**20:.1f} MiB; resident peak "
               f"+{(small['rss_peak'] - small['rss_start']) / 2**20:.1f} -> "
               f"+{(large['rss_peak'] - large['rss_start']) / 2**20:.1f} MiB")


if __name__ == "__main__":
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--clients", type=int, default=N, help="clients of the measured provider (default %(default)s)")
    parser.add_argument("--small", type=int, default=SMALL,
                        help="clients of a smaller provider measured first, for memory and throughput (0: none)")
    args = parser.parse_args()
    os.environ["BENCH_CLIENTS"], os.environ["BENCH_CLIENTS_SMALL"] = str(args.clients), str(args.small)
    # bench/run.py makes the scratch database, migrates it and runs this module by name.
    import run as bench_runner

    sys.argv = [sys.argv[0], "billing_run"]
    bench_runner.main()
