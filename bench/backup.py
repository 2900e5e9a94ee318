"""Backing up and restoring a provider of 100,000 clients and meters with a reading each, against plain COPY of the same tables (baseline).

backup_provider seals every table's binary COPY and every file into one archive; restore_provider
clones a schema and COPYs it all back in one transaction. The baseline COPYs the same tables out
of the database and throws the bytes away: the floor of any dump. Memory must stay flat: the
peak of Python's allocations (tracemalloc) during a backup and a restore of N clients and of
N/10 is compared (the archive grows tenfold; memory must not), with the resident size sampled
every 20 ms beside it.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import psutil
from _verdict import Verdict
from django.db import connection
from django_tenants.utils import tenant_context
from psycopg import sql

N = int(os.environ.get("BENCH_BACKUP_CLIENTS", "100000"))


def _fill(provider, clients: int) -> None:  # type: ignore[no-untyped-def]
    """`clients` clients, one meter each and one reading each (set-up, not the measurement)."""
    from clients.models import Category, Client

    with tenant_context(provider), connection.cursor() as cursor:
        category = Category.objects.get(code="domestic")
        for start in range(0, clients, 5_000):  # through the model: names encrypted as the register keeps them
            Client.objects.bulk_create(Client(account_number=f"B{i:07d}", full_name=f"Bench Client {i}",
                                              category=category) for i in range(start, min(start + 5_000, clients)))
        cursor.execute("INSERT INTO meters_meter (serial, client_id, installed_on, initial_reading, dial_capacity, "
                       "status, created) SELECT 'M' || substr(account_number, 2), id, %s, 100, 99999.999, 'active', "
                       "now() FROM clients_client", [date(2025, 1, 1)])
    from meters.services import readings_record

    with tenant_context(provider):
        from meters.models import Meter

        serials = list(Meter.objects.values_list("serial", flat=True))
        for start in range(0, len(serials), 25_000):
            readings_record([{"meter": s, "value": "112.500", "read_at": "2025-02-01T08:00:00+03:00"}
                             for s in serials[start:start + 25_000]], source="api")


def _peak_growth(work: Callable[[], None]) -> tuple[float, int, int]:
    """Seconds `work` took, the peak of Python's allocations above where they started, and how
    far the resident size rose."""
    process = psutil.Process()
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    before = process.memory_info().rss
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        work()
    finally:
        elapsed = time.perf_counter() - started
        traced_peak = tracemalloc.get_traced_memory()[1] - traced_before
        tracemalloc.stop()
        done.set()
        sampler.join()
    return elapsed, traced_peak, max(peak[0], process.memory_info().rss) - before


def _copy_out(schema: str) -> float:
    from tenants.backup import schema_tables

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in schema_tables(schema):
            query = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT binary)").format(
                table.column_list(), table.qualified(schema))
            with cursor.copy(query) as copy:
                for _data in copy:
                    pass
    return time.perf_counter() - started


def run() -> Iterator[str | Verdict]:
    from tenants.backup import provider_backup, provider_restore
    from tenants.services import provider_create, template_schema_ensure

    template_schema_ensure()
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, clients in (("small", max(N // 10, 1)), ("large", N)):
            provider = provider_create(name=f"Bench backup {label}", slug=f"bench-backup-{label}",
                                       owner_email=f"o@{label}.bench", owner_password="bench-password-1").provider
            _fill(provider, clients)
            connection.set_schema_to_public()
            archive = Path(tmp) / f"{label}.majibak"

            def backup(provider=provider, archive=archive) -> None:  # type: ignore[no-untyped-def]
                with open(archive, "wb") as out:
                    provider_backup(provider, out)

            def restore(archive=archive, label=label) -> None:  # type: ignore[no-untyped-def]
                with open(archive, "rb") as source:
                    provider_restore(source, as_slug=f"bench-restored-{label}")

            backup_s, backup_mem, backup_rss = _peak_growth(backup)
            restore_s, restore_mem, restore_rss = _peak_growth(restore)
            copy_s = _copy_out(provider.schema_name)
            figures[label] = (clients, archive.stat().st_size, backup_s, backup_mem, restore_s, restore_mem, copy_s)
            yield (f"{label}: {clients} clients, archive {archive.stat().st_size / 1e6:.1f} MB; backup {backup_s:.2f} s "
                   f"(peak {backup_mem / 1e6:.1f} MB allocated, +{backup_rss / 1e6:.1f} MB resident), restore {restore_s:.2f} s "
                   f"(peak {restore_mem / 1e6:.1f} MB, +{restore_rss / 1e6:.1f} MB), "
                   f"plain COPY out {copy_s:.2f} s")
    small, large = figures["small"], figures["large"]
    yield f"backup / plain COPY out ({large[0]} clients): {large[2] / large[6]:.1f}x; restore / backup: {large[4] / large[2]:.1f}x"
    growth = max(large[3] / max(small[3], 1), large[5] / max(small[5], 1))
    line = (f"archive grew {large[1] / small[1]:.1f}x; peak allocations grew {large[3] / max(small[3], 1):.2f}x in the "
            f"backup and {large[5] / max(small[5], 1):.2f}x in the restore (flat: about 1x whatever the size)")
    yield Verdict("backup/restore memory, 10x data (worst)", f"{growth:.2f}x", "<= 1.5x", growth <= 1.5, line)
