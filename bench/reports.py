"""Reports at scale: the home page and every report page of a provider with 100,000 clients and 24 months of history, against a bare signed-in page (baseline), and the aging CSV export against PostgreSQL COPY of the same rows.

Dataset (BENCH_REPORTS_CLIENTS clients, default 100,000): ten zones, the four categories and
tariffs of bench/billing_run.py, one meter each, 24 monthly periods ending with the last month
already billed (a period is billed on the 2nd of the next month). Each month: its readings
(about 2% never taken, so some invoices are estimates and later true-ups), then the real
billing run (billing.runs: draft and finalise, as the API does it: invoices, lines, ledger
entries, late-payment penalties), then payments written in bulk as payments.services leaves
them (payment, its ledger entry, its allocation): 88% M-Pesa, 6% cash, 6% bank, 3 to 22 days
after the bill (none later than today); 1 in 500 reversed (the reversal entry, no allocation);
one unmatched payment per 200 clients a month. Clients pay by a class drawn from a hash: 72%
pay every bill, 5% pay 75% of each, the others stopped paying 1, 2, 3 or 4-11 months before
the last period, so their balances are current, 1-30, 31-60, 61-90 and 90+ days past due.
The dataset is built once into the PostgreSQL database <scratch>_reports_tpl (with `make
bench`: majismart_bench_reports_tpl) and reused while the applied migrations, the size, the
last period and DATASET_VERSION match (its comment holds them); each run works on a copy.

Pages: real gunicorn as in production (gunicorn.conf.py, DEBUG off, persistent database
connections, the access log on) serves the provider's domain; one connection, the owner's
session cookie. After WARMUP requests of each, BENCH_REPORTS_REQUESTS rounds (default 30) ask
every page once in turn, so drift hits all pages alike; p50/p95 per page (a page stops being
asked once its samples took BENCH_REPORTS_PAGE_SECONDS, default 120: n in the table). Baseline: the
profile page (/dashboard/profile/: signed in, the same middleware, a form and next to no
queries). The home page is /dashboard/ (/ only redirects there). A page answering 404 is
"missing" (not built yet); any answer but 200 or 404 fails the bench.
Target: every page's p95 within 3x of the bare page's.

Export: GET /reports/aging/?export=csv read to its last byte, against COPY (SELECT ...) TO
STDOUT WITH CSV of reports.exports.aging_copy_sql() (the export's own SQL), read the same way
(the better of three each). Memory: the peak resident size of gunicorn's workers above their
size before, sampled, for the full export and for one zone's (a tenth of the clients).
Target: export within 2x of COPY; memory flat (the full export's growth near one zone's).

Standalone: python bench/reports.py [--clients N]
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from _verdict import Verdict

N = int(os.environ.get("BENCH_REPORTS_CLIENTS", "100000"))
REQUESTS = int(os.environ.get("BENCH_REPORTS_REQUESTS", "30"))
WARMUP = 3
MONTHS = 24
ZONES = 10
SLUG = "bench-reports"
OWNER = "owner@bench-reports.test"
DATASET_VERSION = 1  # bump when the data the set-up writes changes
NAIROBI = ZoneInfo("Africa/Nairobi")
ROOT = Path(__file__).resolve().parent.parent
D = Decimal

BARE = "/dashboard/profile/"
# The home page and the report pages (issue 20): a constant, so a page that moves is noticed.
PAGES = ("/dashboard/", "/dashboard/reports/", "/dashboard/reports/collections/", "/dashboard/reports/aging/",
         "/dashboard/reports/billing/", "/dashboard/reports/consumption/", "/dashboard/reports/readings/",
         "/dashboard/reports/nrw/", "/dashboard/reports/regulator/")
EXPORT = "/dashboard/reports/aging/?export=csv"
ONE_ZONE = "zone-01"  # a tenth of the clients: the memory comparison (the page filters by the zone's id)
PAGE_TARGET, EXPORT_TARGET = 3.0, 2.0
FLAT_SLACK = 16 << 20  # bytes
PAGE_BUDGET = float(os.environ.get("BENCH_REPORTS_PAGE_SECONDS", "120"))  # a page's samples stop after this


# --- dates -------------------------------------------------------------------------------------

def _last_period(today: date) -> date:
    """The first day of the latest month already billed (on the 2nd of the next month)."""
    first = today.replace(day=1)
    months_back = 1 if today.day >= 2 else 2
    return _add_months(first, -months_back)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _billing_day(month: date) -> datetime:
    """A period is billed on the 2nd of the next month, mid-morning in Nairobi."""
    return datetime.combine(_add_months(month, 1) + timedelta(days=1), datetime.min.time(),
                            tzinfo=NAIROBI).replace(hour=10)


# --- the dataset (untimed) ---------------------------------------------------------------------

_CLIENTS_SQL = """
INSERT INTO clients_client (account_number, full_name, name_tokens, phone, phone_index, email, email_index,
                            national_id, national_id_index, category_id, zone_id, location, status, opening_balance,
                            created, updated)
SELECT 'R' || lpad(i::text, 7, '0'), 'Report Client ' || i, '{}', '', '', '', '', '', '', c.id,
       (%(zones)s::bigint[])[i %% %(zone_count)s + 1], '', 'active', 0, %(at)s, %(at)s
FROM generate_series(0, %(n)s - 1) i
JOIN (SELECT id, code, sum(share) OVER (ORDER BY code) - share AS lo, sum(share) OVER (ORDER BY code) AS hi
      FROM clients_category JOIN unnest(%(codes)s::text[], %(shares)s::int[]) s (scode, share) ON scode = code) c
  ON i %% 100 >= c.lo AND i %% 100 < c.hi
"""

_METERS_SQL = """
INSERT INTO meters_meter (serial, client_id, installed_on, initial_reading, dial_capacity, status, created)
SELECT 'M' || substr(account_number, 2), id, %(installed)s, 100, 99999.999, 'active', %(at)s
FROM clients_client
"""

# Month k's reading (k = 1 .. MONTHS) on its last day at 08:00 Nairobi; use 5-60 m³ a month from
# a hash; 2% never taken, so the next one covers two months (as in bench/billing_run.py).
_READINGS_SQL = """
INSERT INTO meters_reading (meter_id, value, read_at, consumption, source, reason, status, flags, note, created)
WITH months AS (
    SELECT m.id AS meter_id, k,
           (%(first)s::date + k * interval '1 month' - interval '1 day' + interval '8 hours')
               AT TIME ZONE 'Africa/Nairobi' AS read_at,
           100 + sum(5 + ((hashtext(m.id || '/' || k) & 2147483647) %% 55001) / 1000.0)
               OVER (PARTITION BY m.id ORDER BY k) AS value,
           (hashtext(m.id || ':' || k) & 2147483647) %% 50 <> 0 AS taken
    FROM meters_meter m CROSS JOIN generate_series(1, %(k)s) k
), taken AS (
    SELECT meter_id, k, read_at, value,
           value - coalesce(lag(value) OVER (PARTITION BY meter_id ORDER BY k), 100) AS consumption
    FROM months WHERE taken
)
SELECT meter_id, value, read_at, consumption, 'csv', '', 'accepted', '{}', '', read_at + interval '2 hours'
FROM taken WHERE k = %(k)s
"""

# A period's payments as payments.services records a matched one: the ledger entry, the
# payment pointing at it, the allocation to the invoice it pays. The payer class (from a hash
# of the client) decides whether, and how much, the client pays; `j` is the period's index
# (0 .. MONTHS - 1), `last` the last one's.
_PAYMENTS_SQL = """
WITH due AS (
    SELECT i.id AS invoice_id, i.client_id, c.account_number,
           round(i.total * CASE WHEN h >= 95 THEN 0.75 ELSE 1 END, 2) AS amount,
           (%(billed)s::date + 3 + (hashtext(i.id || 'day') & 2147483647) %% 20) AS paid_on,
           (hashtext(i.id || 'method') & 2147483647) %% 100 AS m,
           (hashtext(i.id || 'reversed') & 2147483647) %% 500 = 0 AS reversed
    FROM billing_invoice i JOIN clients_client c ON c.id = i.client_id
    CROSS JOIN LATERAL (SELECT (hashtext(i.client_id || 'payer') & 2147483647) %% 100 AS h) payer
    WHERE i.period = %(period)s AND i.status = 'issued' AND i.total > 0
      AND (h < 72 OR h >= 95 OR %(j)s < %(last)s - CASE WHEN h < 80 THEN 1 WHEN h < 86 THEN 2 WHEN h < 90 THEN 3
                                                        ELSE 4 + h %% 8 END)
), paid AS (
    SELECT *, 'BR' || lpad(invoice_id::text, 8, '0') AS receipt,
           (paid_on + interval '8 hours' + (invoice_id %% 600) * interval '1 minute') AT TIME ZONE 'Africa/Nairobi'
               AS paid_at
    FROM due WHERE paid_on <= %(today)s
), entries AS (
    INSERT INTO billing_ledgerentry (client_id, kind, amount, booked_on, reference, description, created)
    SELECT client_id, 'payment', -amount, paid_on, receipt, 'Payment ' || receipt, paid_at FROM paid
    RETURNING id, reference
), payments AS (
    INSERT INTO payments_payment (receipt, method, amount, client_id, status, paid_at, account_reference, payer,
                                  payer_name, ledger_entry_id, created, reversal_reason)
    SELECT p.receipt, CASE WHEN p.m < 88 THEN 'mpesa' WHEN p.m < 94 THEN 'cash' ELSE 'bank' END, p.amount,
           p.client_id, CASE WHEN p.reversed THEN 'reversed' ELSE 'matched' END, p.paid_at, p.account_number, '', '',
           e.id, p.paid_at, ''
    FROM paid p JOIN entries e ON e.reference = p.receipt
    RETURNING id, receipt, amount, status
)
INSERT INTO payments_allocation (payment_id, invoice_id, amount)
SELECT id, substr(receipt, 3)::bigint, amount FROM payments WHERE status = 'matched'
"""

# Reversed payments (bounced cheques, mistaken M-Pesa): the entry that undoes the payment's,
# the next day (never after today); their allocations were never written (reversal removes them).
_REVERSALS_SQL = """
WITH reversed AS (
    SELECT id, client_id, amount, ledger_entry_id, least(paid_at + interval '1 day', %(now)s) AS at
    FROM payments_payment WHERE status = 'reversed' AND reversal_entry_id IS NULL
), entries AS (
    INSERT INTO billing_ledgerentry (client_id, kind, amount, booked_on, reference, description, reverses_id, created)
    SELECT client_id, 'reversal', amount, (at AT TIME ZONE 'Africa/Nairobi')::date, 'REV' || id,
           'Payment reversed', ledger_entry_id, at
    FROM reversed RETURNING id, reverses_id, created
)
UPDATE payments_payment p SET reversal_entry_id = e.id, reversed_at = e.created, reversal_reason = 'Bounced'
FROM entries e WHERE p.ledger_entry_id = e.reverses_id
"""

# Payments nobody could match (an account number that does not exist): one per 200 clients a month.
_UNMATCHED_SQL = """
INSERT INTO payments_payment (receipt, method, amount, client_id, status, paid_at, account_reference, payer,
                              payer_name, created, reversal_reason)
SELECT 'BU' || %(j)s || 'X' || g, 'mpesa', 100 + g %% 40 * 50, NULL, 'unmatched', at, 'X' || lpad(g::text, 6, '0'),
       '', '', at, ''
FROM generate_series(1, greatest(1, %(n)s / 200)) g
CROSS JOIN LATERAL (SELECT (%(billed)s::date + 1 + g %% 25 + interval '9 hours') AT TIME ZONE 'Africa/Nairobi' AS at) t
WHERE at <= %(now)s
"""


def _seed(n: int, first: date) -> None:
    """Billing terms, tariffs from the first period on, ten zones, n clients and their meters."""
    from billing_run import TARIFFS, _travel, seal_client_names
    from django.db import connection

    from billing.models import BillingSettings
    from billing.services import tariff_create
    from clients.models import Category, Zone

    at = datetime.combine(first - timedelta(days=1), datetime.min.time(), tzinfo=NAIROBI).replace(hour=9)
    with _travel(at):
        rules = BillingSettings.load()
        rules.due_days, rules.penalty_percent, rules.penalty_grace_days = 14, D(2), 0
        rules.save()
        for code, (_share, blocks, fixed, rent, sewerage, minimum) in TARIFFS.items():
            tariff_create(actor="bench", blocks=blocks, code=code, name=code.title(),
                          category=Category.objects.get(code=code), effective_from=first,
                          fixed_charge=fixed, meter_rent=rent, sewerage_percent=sewerage, minimum_charge=minimum)
        zones = [Zone.objects.create(code=f"zone-{k:02d}", name=f"Zone {k:02d}").pk for k in range(1, ZONES + 1)]
    with connection.cursor() as cursor:
        cursor.execute(_CLIENTS_SQL, {"n": n, "at": at, "codes": list(TARIFFS), "zones": zones,
                                      "zone_count": ZONES, "shares": [share for share, *_ in TARIFFS.values()]})
        cursor.execute(_METERS_SQL, {"installed": at.date(), "at": at})
    seal_client_names()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE clients_client; ANALYZE meters_meter")


def _history(n: int, first: date, today: date, now: datetime) -> Iterator[str]:
    """Month by month: readings, the real billing run, payments. Yields a progress line a month."""
    from billing_run import _travel
    from django.db import connection

    from billing.runs import billing_run_finalize, billing_run_start

    for j in range(MONTHS):
        month = _add_months(first, j)
        period = month.strftime("%Y-%m")
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(_READINGS_SQL, {"first": first, "k": j + 1})
            cursor.execute("ANALYZE meters_reading")
        billed = _billing_day(month)
        with _travel(billed):
            run, _ = billing_run_start(period=period, actor="bench")
            billing_run_finalize(run=run, actor="bench")
        ran = time.perf_counter()
        params = {"period": period, "billed": billed.date(), "j": j, "last": MONTHS - 1, "today": today,
                  "now": now, "n": n}
        with connection.cursor() as cursor:
            # The run's invoices counted first; and never a nested loop between the CTEs (a row
            # estimate of 1 for each makes one, quadratic in the clients).
            cursor.execute("ANALYZE billing_invoice; SET enable_nestloop = off")
            try:
                cursor.execute(_PAYMENTS_SQL, params)
            finally:
                cursor.execute("RESET enable_nestloop")
            cursor.execute(_REVERSALS_SQL, params)
            cursor.execute(_UNMATCHED_SQL, params)
            cursor.execute("ANALYZE billing_invoiceline; ANALYZE billing_ledgerentry; ANALYZE payments_payment; "
                           "ANALYZE payments_allocation")
        yield (f"  {period}: billing run {ran - started:.1f} s, {run.invoice_count:,} invoices; "
               f"payments {time.perf_counter() - ran:.1f} s")


def _build(n: int, first: date, today: date, now: datetime) -> Iterator[str]:
    """The provider, its owner and its history, in the database Django is connected to."""
    import logging

    from django.db import connection
    from django_tenants.utils import tenant_context

    from billing.signals import billing_run_finalized
    from majismart.celery import app
    from tenants.services import provider_create

    for name in ("celery.app.trace", "kombu.connection"):
        logging.getLogger(name).setLevel(logging.ERROR)
    provider = provider_create(name="Bench Reports", slug=SLUG, owner_email=OWNER,
                               owner_password="bench-password-1").provider
    # The runs' after-commit task runs here, and tells nobody: the bills' PDFs and messages are no
    # part of the reports (and would take most of the set-up).
    eager, app.conf.task_always_eager = app.conf.task_always_eager, True
    listeners, billing_run_finalized.receivers = billing_run_finalized.receivers, []
    billing_run_finalized.sender_receivers_cache.clear()
    try:
        with tenant_context(provider):
            _seed(n, first)
            yield from _history(n, first, today, now)
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
    finally:
        app.conf.task_always_eager = eager
        billing_run_finalized.receivers = listeners
        billing_run_finalized.sender_receivers_cache.clear()
        connection.set_schema_to_public()


# --- databases: the template kept between runs, the copy each run works on --------------------

def _admin():  # type: ignore[no-untyped-def]
    """An autocommit connection to the server's `postgres` database (CREATE/DROP DATABASE)."""
    import psycopg
    from django.db import connection

    db = connection.settings_dict
    return psycopg.connect(host=unquote(db["HOST"] or "") or None, port=db["PORT"] or 5432, user=db["USER"],
                           password=db["PASSWORD"] or None, dbname="postgres", autocommit=True)


def _use(name: str) -> None:
    """Point Django's connection at database `name` (closed now, reopened on next use)."""
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = name


def _key(n: int, last: date) -> str:
    """What the template must have been built from: the applied migrations, the size, the last
    period and the dataset version."""
    from django.db import connection

    with connection.cursor() as cursor:
        # Not the reports app's: its tables are derived, brought up to date on each run's copy
        # (migrate, then the figures refresh) without rebuilding the dataset.
        cursor.execute("SELECT app, name FROM django_migrations WHERE app <> 'reports' ORDER BY app, name")
        migrations = hashlib.sha256(repr(cursor.fetchall()).encode()).hexdigest()[:16]
    return f"bench-reports v{DATASET_VERSION} clients={n} last={last:%Y-%m} migrations={migrations}"


def _template_key(admin, template: str) -> str | None:  # type: ignore[no-untyped-def]
    row = admin.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                        [template]).fetchone()
    return row[0] if row else None


def _prepare(n: int) -> Iterator[str]:
    """Switch Django to a fresh copy of the dataset (built into the template first when the
    template is missing or stale). Yields report lines; the last thing it does is the switch."""
    from django.db import connection
    from django.utils import timezone

    scratch = connection.settings_dict["NAME"]
    template, work = f"{scratch}_reports_tpl", f"{scratch}_reports"
    now = timezone.now()
    today = now.astimezone(NAIROBI).date()
    last = _last_period(today)
    first = _add_months(last, -(MONTHS - 1))
    key = _key(n, last)
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{work}" WITH (FORCE)')
        reuse = _template_key(admin, template) == key
        if not reuse:
            _use(scratch)
            admin.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{template}" TEMPLATE "{scratch}"')
    if reuse:
        yield f"dataset: reused {template} ({key})"
    else:
        yield f"dataset: building {template} ({key}), periods {first:%Y-%m} .. {last:%Y-%m}"
        _use(template)
        started = time.perf_counter()
        yield from _build(n, first, today, now)
        _use(scratch)
        with _admin() as admin:
            admin.execute(f"COMMENT ON DATABASE \"{template}\" IS '{key}'")
        yield f"dataset built in {time.perf_counter() - started:.0f} s (untimed; kept for the next run)"
    started = time.perf_counter()
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{work}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        size = admin.execute("SELECT pg_database_size(%s)", [work]).fetchone()[0]
    _use(work)
    yield f"copy of the dataset for this run ({size / 2**30:.1f} GiB): {time.perf_counter() - started:.1f} s"


def _census() -> str:
    """What the dataset holds, as one line."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT (SELECT count(*) FROM clients_client), (SELECT count(*) FROM meters_reading),
                   (SELECT count(*) FROM billing_invoice), (SELECT count(*) FROM billing_invoiceline),
                   (SELECT count(*) FROM billing_ledgerentry),
                   (SELECT count(*) FROM payments_payment WHERE status = 'matched'),
                   (SELECT count(*) FROM payments_payment WHERE status = 'reversed'),
                   (SELECT count(*) FROM payments_payment WHERE status = 'unmatched')""")
        c, r, i, lines, e, matched, reversed_, unmatched = cursor.fetchone()
    return (f"clients {c:,}; readings {r:,}; invoices {i:,} ({lines:,} lines); ledger entries {e:,}; "
            f"payments {matched:,} matched, {reversed_:,} reversed, {unmatched:,} unmatched")


# --- the server and its client -----------------------------------------------------------------

def _session_cookie(provider, secret_key: str) -> str:  # type: ignore[no-untyped-def]
    """The owner's session, as signing in leaves it (Django's login through the test client),
    its hash signed with the server's SECRET_KEY."""
    import logging

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings
    from django_tenants.utils import tenant_context

    logging.getLogger("axes").setLevel(logging.WARNING)
    with tenant_context(provider), override_settings(SECRET_KEY=secret_key):
        client = Client()
        client.force_login(get_user_model().objects.get(email=OWNER))
        return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


class _Browser:
    """One keep-alive connection to the server, as the signed-in owner behind our TLS proxy."""

    def __init__(self, port: int, host: str, cookie: str) -> None:
        self.port = port
        self.headers = {"Host": host, "Cookie": cookie, "X-Forwarded-Proto": "https",
                        "X-Forwarded-For": "10.0.0.7", "User-Agent": "bench-reports/1"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def get(self, path: str) -> tuple[int, int, float]:
        """(status, body bytes, seconds) of a GET read to its last byte."""
        started = time.perf_counter()
        try:
            self.conn.request("GET", path, headers=self.headers)
            response = self.conn.getresponse()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # gunicorn closed a kept-alive connection: once more on a new one
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            started = time.perf_counter()
            self.conn.request("GET", path, headers=self.headers)
            response = self.conn.getresponse()
        size = 0
        while block := response.read(1 << 16):
            size += len(block)
        return response.status, size, time.perf_counter() - started

    def close(self) -> None:
        self.conn.close()


class _ServerRSS:
    """Samples the resident size of the server's processes (master and workers) every 5 ms;
    `growth` is the peak of their sum above the sum before."""

    def __init__(self, pid: int) -> None:
        import psutil

        self._root = psutil.Process(pid)
        self._stop = threading.Event()
        self.start = self.peak = self._sum()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sum(self) -> int:
        import psutil

        total = 0
        for proc in [self._root, *self._root.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._sum())

    def __enter__(self) -> _ServerRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.start


# --- measurement -------------------------------------------------------------------------------

def _pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank), in ms."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))] * 1000


def _pages(browser: _Browser) -> Iterator[str]:
    """Warm-up, then REQUESTS rounds of every page in turn; the table of p50/p95 and ratios."""
    paths = (BARE, *PAGES)
    status: dict[str, int] = {}
    for path in paths:
        for _ in range(WARMUP):
            status[path] = browser.get(path)[0]
    if status[BARE] != 200:
        raise RuntimeError(f"the bare page {BARE} answered {status[BARE]}: the session is not signed in")
    errors = {path: code for path, code in status.items() if code not in (200, 404)}
    if errors:
        raise RuntimeError(f"pages answering neither 200 nor 404: {errors}")
    live = [path for path in paths if status[path] == 200]
    times: dict[str, list[float]] = {path: [] for path in live}
    sizes: dict[str, int] = {}
    for _ in range(REQUESTS):
        for path in live:
            if sum(times[path]) > PAGE_BUDGET:
                continue  # a page this slow has shown it; fewer samples, said in the table
            code, sizes[path], seconds = browser.get(path)
            if code != 200:
                raise RuntimeError(f"{path} answered {code} after 200 in the warm-up")
            times[path].append(seconds)
    bare95 = _pct(times[BARE], 0.95)
    yield (f"pages: {WARMUP} warm-up requests each, then {REQUESTS} rounds of every page in turn over one "
           f"keep-alive connection (ms; ratio = p95 / the bare page's p95; target <= {PAGE_TARGET:g}x)")
    yield f"  {'page':<24} {'p50':>8} {'p95':>8} {'ratio':>7}  {'KiB':>6}  {'n':>3}  result"
    failed = 0
    for path in paths:
        if path not in live:
            yield f"  {path:<24} {'':>8} {'':>8} {'':>7}  {'':>6}  {'':>3}  missing (404)"
            continue
        p95 = _pct(times[path], 0.95)
        ok = path == BARE or p95 <= PAGE_TARGET * bare95
        failed += not ok
        verdict = "bare page (baseline)" if path == BARE else ("pass" if ok else "FAIL")
        yield (f"  {path:<24} {statistics.median(times[path]) * 1000:8.1f} {p95:8.1f} {p95 / bare95:6.1f}x  "
               f"{sizes[path] / 1024:6.0f}  {len(times[path]):3}  {verdict}")
    missing = len(paths) - len(live)
    worst = max((_pct(times[p], 0.95) / bare95 for p in live if p != BARE), default=0.0)
    yield Verdict("report pages p95 / bare page (worst)", f"{worst:.1f}x", f"<= {PAGE_TARGET:g}x",
                  failed == 0 and missing == 0,
                  f"pages within {PAGE_TARGET:g}x of the bare page at p95: {len(live) - 1 - failed} of {len(live) - 1} "
                  f"measured ({missing} missing): {failed == 0 and missing == 0}")


def _copy_seconds() -> tuple[float, int] | None:
    """COPY of the aging export's own SQL to STDOUT as CSV, read to its last byte; None when
    the reports app does not expose it yet."""
    try:
        from reports.exports import aging_copy_sql  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    from django.db import connection

    sql, params = aging_copy_sql()
    with connection.cursor() as cursor:
        started = time.perf_counter()
        size = 0
        # psycopg's own cursor: Django's debug wrapper takes no parameters for COPY.
        with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT WITH CSV", params) as copy:
            for block in copy:
                size += len(block)
        return time.perf_counter() - started, size


def _export(browser: _Browser, server_pid: int, provider) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The aging CSV through the server against COPY of the same rows; the server's memory."""
    from django_tenants.utils import tenant_context

    status = browser.get(EXPORT)[0]  # warm-up, and whether it exists
    if status == 404:
        yield f"export {EXPORT}: missing (404)"
        return
    if status != 200:
        raise RuntimeError(f"{EXPORT} answered {status}")
    from clients.models import Zone

    with tenant_context(provider):
        one_zone = f"{EXPORT}&zone={Zone.objects.get(code=ONE_ZONE).pk}"
    runs = []
    for path in (one_zone, EXPORT):
        for _ in range(3):
            with _ServerRSS(server_pid) as rss:
                code, size, seconds = browser.get(path)
            if code != 200:
                raise RuntimeError(f"{path} answered {code}")
            runs.append((path, seconds, size, rss.growth))
    zone = min((r for r in runs if r[0] == one_zone), key=lambda r: r[1])
    full = min((r for r in runs if r[0] == EXPORT), key=lambda r: r[1])
    with tenant_context(provider):
        copies = [_copy_seconds() for _ in range(3)]
    yield f"export {EXPORT}: {full[1]:.2f} s for {full[2] / 2**20:.2f} MiB (best of 3, read to the last byte)"
    if copies[0] is None:
        yield "COPY baseline: missing (reports.exports.aging_copy_sql not importable)"
    else:
        copy_seconds, copy_size = min(c for c in copies if c is not None)
        ratio = full[1] / copy_seconds
        yield Verdict("aging CSV export / COPY", f"{ratio:.2f}x", f"<= {EXPORT_TARGET:g}x", ratio <= EXPORT_TARGET,
                      f"COPY (aging_copy_sql()) TO STDOUT WITH CSV: {copy_seconds:.2f} s for {copy_size / 2**20:.2f} MiB; "
                      f"ratio export/COPY {ratio:.2f}x (target <= {EXPORT_TARGET:g}x: {ratio <= EXPORT_TARGET})")
    share = zone[2] / full[2] if full[2] else 0
    worst_full = max(r[3] for r in runs if r[0] == EXPORT)
    worst_zone = max(r[3] for r in runs if r[0] == one_zone)
    # Flat: ten times the rows cost at most a fixed buffer more (FLAT_SLACK), not ten times the memory.
    flat = (f"flat (full within {FLAT_SLACK >> 20} MiB of one zone): {worst_full - worst_zone <= FLAT_SLACK}"
            if 0.05 < share < 0.2 else f"the zone filter was not applied ({share:.0%} of the bytes): no comparison")
    yield Verdict("aging export memory: full - one zone", f"{(worst_full - worst_zone) / 2**20:+.1f} MiB",
                  f"<= {FLAT_SLACK >> 20} MiB", 0.05 < share < 0.2 and worst_full - worst_zone <= FLAT_SLACK,
                  f"server memory (peak resident size of gunicorn's processes above before, sampled every 5 ms, worst of "
                  f"3): full export +{worst_full / 2**20:.1f} MiB, one zone ({share:.0%} of the bytes) "
                  f"+{worst_zone / 2**20:.1f} MiB; {flat}")


def _server_env(secret_key: str) -> dict[str, str]:
    """Production-like: DEBUG off (a throw-away secret key, which signs the session's hash),
    persistent connections, the TLS proxy trusted."""
    from devkit.testing import child_env

    return child_env(DEBUG="false", SECRET_KEY=secret_key, EMAIL_URL="consolemail://", CONN_MAX_AGE="60", TRUSTED_PROXY_COUNT="1",
                     PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "bench")]))


def _static_root(env: dict[str, str]) -> Path:
    """Static files collected as the image is built (Dockerfile): DEBUG off serves hashed,
    compressed files from a manifest. Compressing takes minutes, so the result is kept in the
    temporary directory, under a name made from the sources' paths, sizes and times."""
    from django.contrib.staticfiles import finders

    from devkit.testing import PYTHON

    sources = sorted((path, storage.path(path)) for finder in finders.get_finders()
                     for path, storage in finder.list(["CVS", ".*", "*~"]))
    digest = hashlib.sha256(repr([(path, os.stat(full).st_size, os.stat(full).st_mtime_ns)
                                  for path, full in sources]).encode()).hexdigest()[:16]
    root = Path(tempfile.gettempdir()) / f"majismart-bench-reports-static-{digest}"
    if not (root / "staticfiles.json").exists():
        subprocess.run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"], env={**env, "STATIC_ROOT": str(root)},
                       cwd=ROOT, check=True, capture_output=True)  # noqa: S603
    return root


def _measure(provider) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from devkit.testing import PYTHON, free_port, process

    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    log = work / "gunicorn.log"
    args = [PYTHON, "-m", "gunicorn", "majismart.wsgi:application", "-c", str(ROOT / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{port}"]
    secret_key = secrets.token_urlsafe(50)
    cookie = _session_cookie(provider, secret_key)
    env = {**_server_env(secret_key), "STATIC_ROOT": str(_static_root(env=_server_env(secret_key)))}
    try:
        with process(args, env, port=port, log=log) as server:
            browser = _Browser(port, provider.domain, cookie)
            try:
                yield from _pages(browser)
                yield from _export(browser, server.pid, provider)
            finally:
                browser.close()
    except Exception:
        sys.stderr.write(log.read_text()[-4000:] if log.exists() else "")
        raise
    shutil.rmtree(work, ignore_errors=True)


def _figures() -> Iterator[str]:
    """Bring the copy's schemas up to date (the reports app's migrations are not part of the
    dataset's key) and make the report figures, as the refresh job does; its time is a figure of
    its own (how stale a page of this provider can be)."""
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import tenant_context

    from reports.refresh import figures_refresh
    from tenants.models import Provider

    started = time.perf_counter()
    call_command("migrate_schemas", verbosity=0, interactive=False)
    yield f"migrations brought up to date on the copy: {time.perf_counter() - started:.1f} s"
    with tenant_context(Provider.objects.get(slug=SLUG)):
        for attempt in (1, 2):
            state = figures_refresh()
            yield f"report figures refresh #{attempt} (every table rebuilt from the ledger): {state.seconds:.1f} s"
    connection.set_schema_to_public()


def run() -> Iterator[str]:
    from django.db import connection
    from django_tenants.utils import tenant_context

    from tenants.models import Provider

    scratch = connection.settings_dict["NAME"]
    started = time.perf_counter()
    try:
        yield from _prepare(N)
        yield from _figures()
        provider = Provider.objects.get(slug=SLUG)
        with tenant_context(provider):
            census = _census()
        connection.set_schema_to_public()
        yield f"{census} (ready in {time.perf_counter() - started:.0f} s)"
        yield from _measure(provider)
    finally:
        _use(scratch)
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}_reports" WITH (FORCE)')


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--clients", type=int, default=N, help="clients of the provider (default %(default)s)")
    os.environ["BENCH_REPORTS_CLIENTS"] = str(parser.parse_args().clients)
    # bench/run.py makes the scratch database, migrates it and runs this module by name.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import run as bench_runner

    sys.argv = [sys.argv[0], "reports"]
    bench_runner.main()
