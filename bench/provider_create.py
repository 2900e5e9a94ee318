"""Creating a provider: cloning the template schema (what we ship) against replaying every migration (baseline).

Each strategy creates the same number of providers (schema, domain, owner) through the real
service; medians are compared. Target: under 2 s per provider with clone.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

from _verdict import Verdict
from django.conf import settings
from django.db import connection

ROUNDS = 5


def _create(prefix: str, i: int) -> float:
    from tenants.services import provider_create

    started = time.perf_counter()
    provider_create(name=f"{prefix} {i}", slug=f"{prefix}-{i}", owner_email=f"o{i}@{prefix}.bench",
                    owner_password="bench-password-1")
    return time.perf_counter() - started


def run() -> Iterator[str]:
    from tenants.services import template_schema_ensure

    template_schema_ensure()
    timings: dict[str, list[float]] = {}
    for label, clone in (("migrate", False), ("clone", True)):
        settings.TENANT_CREATION_FAKES_MIGRATIONS = clone
        timings[label] = [_create(f"bench-{label}", i) for i in range(ROUNDS)]
        connection.set_schema_to_public()
    migrate = statistics.median(timings["migrate"])
    clone = statistics.median(timings["clone"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'bench-clone-0'")
        tables = cursor.fetchone()[0]
    yield f"tables per provider schema: {tables}; rounds: {ROUNDS}"
    yield f"migrate (baseline): median {migrate:.3f} s  (min {min(timings['migrate']):.3f}, max {max(timings['migrate']):.3f})"
    yield f"clone (shipped):    median {clone:.3f} s  (min {min(timings['clone']):.3f}, max {max(timings['clone']):.3f})"
    yield Verdict("provider schema clone (median)", f"{clone:.2f} s", "< 2 s", clone < 2.0,
                  f"ratio migrate/clone: {migrate / clone:.1f}x; clone under the 2 s target: {clone < 2.0}")
    from django.contrib.auth.hashers import make_password

    started = time.perf_counter()
    make_password("bench-password-1")
    hashing = time.perf_counter() - started
    yield (f"of which hashing the owner's password (PBKDF2, same in both): {hashing:.3f} s; "
           f"schema work alone: migrate {migrate - hashing:.3f} s vs clone {clone - hashing:.3f} s "
           f"({(migrate - hashing) / max(clone - hashing, 1e-6):.1f}x)")
