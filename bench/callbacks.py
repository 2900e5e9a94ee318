"""M-Pesa C2B confirmations: the endpoint under load against a bare Django view giving the same answer (baseline), then a Celery worker draining 10,000 stored callbacks.

A throw-away provider with BENCH_CALLBACK_CLIENTS clients (default 5,000; tariffs, meters and two
billed, mostly paid months from bench/billing_run.py's set-up, so payments find open invoices to
settle). Real gunicorn as in production (gunicorn.conf.py: 3 workers of 4 threads, the access
log on, DEBUG off, persistent database connections) serves the provider's domain with the production middleware;
its URLconf is the provider's plus one bench-only path (bench/_callbacks_site): a bare view,
csrf-exempt and POST-only like the endpoint, returning the same JSON. Celery is not eager: the
endpoint stores the callback and enqueues it on commit to a real Redis (REDIS_URL, or a
throw-away one), into a queue of the bench's own that nobody consumes (its length is checked
against the stored rows, then it is deleted).

Load: a second process posts Daraja C2B confirmation bodies (unique TransID each, the
BillRefNumber of a real client or, 2%, an unknown one, masked MSISDN) with the provider's Host
header and, as our TLS-terminating reverse proxy would pass them on, Safaricom's address in
X-Forwarded-For and X-Forwarded-Proto https (the server runs with TRUSTED_PROXY_COUNT=1, as
docker-compose.yml does, so the address screen passes as for real callbacks), from
BENCH_CALLBACK_CONNECTIONS threads (default 6, twice the server's workers), each on its own
http.client connection to 127.0.0.1 (reopened whenever gunicorn closes it). After a warm-up of each, bare and confirmation rounds
alternate (BENCH_CALLBACK_ROUNDS each, BENCH_CALLBACK_SECONDS long); the median round of each
is reported. Target: confirmation >= 0.7x the bare view's requests/s. Each round also reports
the CPU a request cost (on Linux, from /proc: gunicorn's master and workers, every PostgreSQL
process, and the load process's own; of the first two also the kernel's part and the context
switches), so the gap between the two views can be placed.

Drain: 10,000 (BENCH_CALLBACK_DRAIN) C2B confirmations stored in the inbox (1% re-deliveries
of a TransID, 2% unknown accounts, some typed in lower case or with spaces) and one
`drain_confirmations` task, as the endpoint queues it (the callback that raises the drain flag), in a
queue a started `celery worker --concurrency 2` (production settings) does not consume yet; the
drain works in batches (payments.batch) and calls in a helper drain on the second process. The
clock starts when the worker is told to consume the queue (add_consumer) and stops when no
callback is left `received`. Target: >= 200 payments/s. Without any Redis the callbacks are
processed in this process instead, and the line says so.

BENCH_GUNICORN_EXTRA adds gunicorn options to both servers (e.g. "--threads 1" for one thread a
worker, "--worker-class sync" for the sync workers measured before).

Standalone: python bench/callbacks.py
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _verdict import Verdict

CLIENTS = int(os.environ.get("BENCH_CALLBACK_CLIENTS", "5000"))
CONNECTIONS = int(os.environ.get("BENCH_CALLBACK_CONNECTIONS", "6"))
ROUNDS = int(os.environ.get("BENCH_CALLBACK_ROUNDS", "3"))
SECONDS = float(os.environ.get("BENCH_CALLBACK_SECONDS", "8"))
WARMUP_SECONDS = 3.0
GUNICORN_EXTRA = os.environ.get("BENCH_GUNICORN_EXTRA", "").split()
WORKER_CONCURRENCY = 2
DRAIN = int(os.environ.get("BENCH_CALLBACK_DRAIN", "10000"))
SLUG = "bench-callbacks"
ROOT = Path(__file__).resolve().parent.parent
ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
SAFARICOM_IP = "196.201.214.200"  # one of the published callback addresses (settings.MPESA_CALLBACK_IPS)
FIRST_NAMES = ("NICHOLAS", "WANJIKU", "OTIENO", "AMINA", "KIPROTICH", "FATUMA", "MWANGI", "ACHIENG")


# --- callbacks as Daraja sends them (no Django here: the load process runs this alone) ----------

def confirmation_body(rnd: random.Random, trans_id: str, accounts: list[str]) -> bytes:
    """A C2B confirmation as Daraja documents it: every value a string, the MSISDN masked; the
    account number as typed: 2% unknown, some in lower case or padded with spaces."""
    roll = rnd.random()
    if roll < 0.02:
        account = f"X{rnd.randrange(10**6):06d}"
    else:
        account = rnd.choice(accounts)
        if roll < 0.08:
            account = f" {account.lower()} "
    return json.dumps({
        "TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": time.strftime("%Y%m%d%H%M%S"),
        "TransAmount": f"{rnd.randrange(50, 5000)}.00", "BusinessShortCode": "600966",
        "BillRefNumber": account, "InvoiceNumber": "", "OrgAccountBalance": f"{rnd.randrange(10**6)}.00",
        "ThirdPartyTransID": "", "MSISDN": f"2547 ***** {rnd.randrange(1000):03d}",
        "FirstName": rnd.choice(FIRST_NAMES), "MiddleName": "", "LastName": "",
    }).encode()


def _load(spec: dict) -> dict:
    """Post for spec["seconds"] from spec["connections"] threads; requests/s over the window
    (requests started in it, until the last of them is answered) and latency percentiles."""
    import http.client
    import threading

    accounts = json.loads(Path(spec["accounts_file"]).read_text())
    # As our TLS-terminating reverse proxy passes it on: Safaricom's address in X-Forwarded-For (the
    # server trusts 127.0.0.1 as its proxy), so the endpoint's address screen passes, as for real
    # callbacks, and X-Forwarded-Proto https (without it, DEBUG off redirects every request to https).
    headers = {"Host": spec["host"], "Content-Type": "application/json", "User-Agent": "bench-callbacks/1",
               "X-Forwarded-For": SAFARICOM_IP, "X-Forwarded-Proto": "https"}
    clock: dict[str, float] = {}

    def start() -> None:
        clock["start"] = time.perf_counter()
        clock["deadline"] = clock["start"] + spec["seconds"]

    barrier = threading.Barrier(spec["connections"], action=start)
    results: list[tuple[list[float], float, int, str]] = []

    def post(n: int) -> None:
        rnd = random.Random(f"{spec['tag']}-{n}")  # noqa: S311 - test data
        conn = http.client.HTTPConnection("127.0.0.1", spec["port"], timeout=30)
        latencies: list[float] = []
        errors, last_error, finished, i = 0, "", 0.0, 0
        barrier.wait()
        while True:
            began = time.perf_counter()
            if began >= clock["deadline"]:
                break
            i += 1
            # Daraja's TransIDs are 10 upper-case letters and digits: unique per round and thread.
            body = confirmation_body(rnd, f"{spec['tag']}{n:X}{i:06d}", accounts)
            try:
                conn.request("POST", spec["path"], body, headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                errors, last_error = errors + 1, repr(exc)
                conn.close()
                continue
            finished = time.perf_counter()
            if response.status != 200 or json.loads(data) != ACCEPTED:
                errors, last_error = errors + 1, f"{response.status} {data[:200]!r}"
                continue
            latencies.append(finished - began)
        conn.close()
        results.append((latencies, finished, errors, last_error))

    threads = [threading.Thread(target=post, args=(n,)) for n in range(spec["connections"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = sorted(lat for result in results for lat in result[0])
    elapsed = max(result[1] for result in results) - clock["start"]

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    return {"ok": len(latencies), "errors": sum(r[2] for r in results), "cpu": time.process_time(),
            "last_error": next((r[3] for r in results if r[3]), ""), "rps": len(latencies) / elapsed,
            "p50": pct(0.50), "p99": pct(0.99), "max": latencies[-1] * 1000 if latencies else float("nan")}


def _cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU used so far by the server (gunicorn's master and workers) and by PostgreSQL's
    processes on this machine (Linux's /proc; zeros elsewhere): seconds in all, seconds in the
    kernel ("_sys") and context switches ("_switches", of the processes alive now). A process's
    CPU includes its children that have ended (cutime, cstime), so a backend closed mid-round
    is not lost."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {f"{group}{part}": 0.0 for group in ("server", "postgres") for part in ("", "_sys", "_switches")}
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else ():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
            status = (entry / "status").read_text() if stat else ""
        except OSError:
            continue
        if not stat:
            continue
        comm, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        group = ("server" if server_pid in (int(entry.name), int(fields[1]))
                 else "postgres" if comm.startswith("postgres") else "")
        if group:
            used[group] += sum(int(v) for v in fields[11:15]) / tick
            used[f"{group}_sys"] += (int(fields[12]) + int(fields[14])) / tick
            used[f"{group}_switches"] += sum(int(line.split()[1]) for line in status.splitlines()
                                             if "ctxt_switches:" in line)
    return used


def _run_load(spec: dict) -> dict:
    """One round of load, from a second process."""
    command = [sys.executable, __file__, "--load", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=spec["seconds"] + 120,  # noqa: S603
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"load process failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


# --- set-up ------------------------------------------------------------------------------------

def billed_provider(name: str, slug: str, clients: int):  # type: ignore[no-untyped-def]
    """A provider with `clients` clients, tariffs, meters and two billed months, 85% of them
    paid (bench/billing_run.py's set-up). The runs' after-commit task runs here, in this process
    (never left in a Redis queue for a schema that is dropped at the end), without their PDFs."""
    import billing_run
    from django.db import connection
    from django_tenants.utils import tenant_context

    from billing.receivers import queue_invoice_pdfs
    from billing.signals import billing_run_finalized
    from majismart.celery import app
    from tenants.services import provider_create

    provider = provider_create(name=name, slug=slug, owner_email=f"o@{slug}.bench",
                               owner_password="bench-password-1").provider
    eager, app.conf.task_always_eager = app.conf.task_always_eager, True
    billing_run_finalized.disconnect(queue_invoice_pdfs)
    try:
        with tenant_context(provider):
            billing_run._seed(clients)
            billing_run._bill_prior_periods()
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
    finally:
        billing_run_finalized.connect(queue_invoice_pdfs)
        app.conf.task_always_eager = eager
        connection.set_schema_to_public()
    return provider


def _settle_database() -> None:
    """Flush what the set-up wrote (and an earlier run dropped) before the clock runs, so a
    checkpoint does not land in the middle of one round and not the other (skipped without the
    rights to)."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError:
        pass


def _gunicorn_shape() -> str:
    """What gunicorn.conf.py (and BENCH_GUNICORN_EXTRA) made of the server."""
    import runpy

    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return f"{conf['workers']} {conf['worker_class']} workers x {conf['threads']} threads" + (
        f" ({' '.join(GUNICORN_EXTRA)})" if GUNICORN_EXTRA else "")


def _server_env(redis: str, queue: str, settings_module: str) -> dict[str, str]:
    """Production-like: DEBUG off (a throw-away secret key), persistent connections, not eager."""
    import secrets

    from devkit.testing import child_env

    return child_env(DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), EMAIL_URL="consolemail://",
                     CONN_MAX_AGE="60", CELERY_TASK_ALWAYS_EAGER="false", REDIS_URL=redis,
                     BENCH_CELERY_QUEUE=queue, DJANGO_SETTINGS_MODULE=settings_module, TRUSTED_PROXY_COUNT="1",
                     PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "bench")]))


def _redis_cleanup(url: str, queues: list[str], task_ids: list[str]) -> None:
    """Our queues, their kombu bindings and the drain's task results; nothing else in that Redis."""
    import redis as redis_py

    client = redis_py.Redis.from_url(url)
    client.delete(*queues, *(f"_kombu.binding{kind}.{q}" for q in queues for kind in ("", "_permanent")))
    for key in client.scan_iter("_kombu.binding*"):
        if client.type(key) != b"set":
            continue
        members = [m for m in client.smembers(key) if any(q.encode() in m for q in queues)]
        if members:
            client.srem(key, *members)
    for chunk in range(0, len(task_ids), 1000):
        client.delete(*(f"celery-task-meta-{task_id}" for task_id in task_ids[chunk:chunk + 1000]))


# --- the endpoint under load -------------------------------------------------------------------

def _endpoint(provider, accounts_file: str, redis: str, work: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    import redis as redis_py
    from django.db.models import Count
    from django_tenants.utils import tenant_context

    from devkit.testing import PYTHON, free_port, process
    from payments.models import CallbackInbox

    queue = f"bench-callbacks-load-{os.getpid()}"
    port = free_port()
    _settle_database()
    # gunicorn.conf.py (read from ROOT, the working directory) as in production; only the
    # address is the bench's own.
    args = [PYTHON, "-m", "gunicorn", "majismart.wsgi:application", "-c", str(ROOT / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{port}", *GUNICORN_EXTRA]
    paths = {"bare": f"/bench/bare/{provider.callback_token}/",
             "confirmation": f"/payments/mpesa/c2b/confirmation/{provider.callback_token}/"}
    rounds: dict[str, list[dict]] = {"bare": [], "confirmation": []}
    confirmations_ok = 0
    log = work / "gunicorn.log"
    try:
        with process(args, _server_env(redis, queue, "_callbacks_site.settings"), port=port, log=log) as server:
            schedule = [(name, WARMUP_SECONDS, True) for name in paths]
            schedule += [(name, SECONDS, False) for _ in range(ROUNDS) for name in paths]
            for index, (name, seconds, warmup) in enumerate(schedule):
                before = _cpu_seconds(server.pid)
                result = _run_load({"port": port, "host": provider.domain, "path": paths[name], "seconds": seconds,
                                    "connections": CONNECTIONS, "accounts_file": accounts_file,
                                    "tag": f"B{index:02d}"})
                after = _cpu_seconds(server.pid)
                for key in after:  # per request: context switches as counted, CPU in µs
                    spent = (after[key] - before[key]) / max(result["ok"], 1)
                    result.update({key: spent} if key.endswith("_switches") else {f"{key}_us": spent * 1e6})
                result["load_us"] = result["cpu"] * 1e6 / max(result["ok"], 1)
                if result["errors"]:
                    raise RuntimeError(f"{name}: {result['errors']} failed requests, e.g. {result['last_error']}")
                if name == "confirmation":
                    confirmations_ok += result["ok"]
                if not warmup:
                    rounds[name].append(result)
    except Exception:
        sys.stderr.write(log.read_text()[-4000:] if log.exists() else "")
        raise
    with tenant_context(provider):
        by_status = dict(CallbackInbox.objects.values_list("status").annotate(n=Count("id")))
    queued = -1
    if redis:
        queued = redis_py.Redis.from_url(redis).llen(queue)
        _redis_cleanup(redis, [queue], [])

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in rounds[name])

    conf, bare = median("confirmation", "rps"), median("bare", "rps")
    ratio = conf / bare
    yield Verdict("C2B confirmation / bare view (req/s)", f"{ratio:.2f}", ">= 0.70", ratio >= 0.7,
                  f"confirmation: {conf:,.0f} req/s p99 {median('confirmation', 'p99'):.1f} ms · bare view: "
                  f"{bare:,.0f} req/s p99 {median('bare', 'p99'):.1f} ms · ratio {ratio:.2f} (target ≥ 0.70: {ratio >= 0.7})")
    yield (f"  medians of {ROUNDS} alternating rounds of {SECONDS:g} s each after a {WARMUP_SECONDS:g} s warm-up; "
           f"{CONNECTIONS} connections, gunicorn {_gunicorn_shape()}, {os.cpu_count()} CPUs shared by "
           f"server, load, PostgreSQL and Redis")
    for name in ("confirmation", "bare"):
        yield f"  {name} rounds: " + "; ".join(
            f"{r['rps']:,.0f} req/s p50 {r['p50']:.1f} p99 {r['p99']:.1f} max {r['max']:.0f} ms" for r in rounds[name])
    yield "  CPU a request (µs, medians of the rounds): " + "; ".join(
        f"{name}: server {median(name, 'server_us'):,.0f} ({median(name, 'server_sys_us'):,.0f} in the kernel, "
        f"{median(name, 'server_switches'):.1f} context switches), PostgreSQL {median(name, 'postgres_us'):,.0f} "
        f"({median(name, 'postgres_sys_us'):,.0f}, {median(name, 'postgres_switches'):.1f}), "
        f"load {median(name, 'load_us'):,.0f}" for name in ("confirmation", "bare"))
    yield (f"  stored {sum(by_status.values()):,} confirmations for {confirmations_ok:,} answered "
           f"(by status: {by_status}); {queued:,} tasks enqueued in Redis (nobody consumed them; deleted)")


# --- the worker draining the inbox -------------------------------------------------------------

def _stored_callbacks(provider, accounts: list[str], tag: str = "D", clear: bool = True  # type: ignore[no-untyped-def]
                      ) -> tuple[list[int], int]:
    """DRAIN C2B confirmations in the inbox, as the endpoint stores them; 1% are re-deliveries
    of an earlier TransID (TransIDs `<tag><n>`). Returns their ids and the number of distinct
    TransIDs. `clear`: the inbox emptied first (the load's callbacks, never processed)."""
    from django_tenants.utils import tenant_context

    from payments.models import CallbackInbox

    rnd = random.Random("drain" if tag == "D" else tag)  # noqa: S311 - test data
    bodies: list[bytes] = []
    for i in range(DRAIN):
        if bodies and rnd.random() < 0.01:
            bodies.append(rnd.choice(bodies))
        else:
            bodies.append(confirmation_body(rnd, f"{tag}{i:09d}", accounts))
    unique = len({json.loads(body)["TransID"] for body in bodies})
    headers = {"content-type": "application/json", "user-agent": "Apache-HttpClient/4.5.5 (Java/1.8.0_151)"}
    with tenant_context(provider):
        if clear:
            CallbackInbox.objects.all().delete()
        rows = CallbackInbox.objects.bulk_create(
            [CallbackInbox(kind=CallbackInbox.Kind.C2B_CONFIRMATION, body=body.decode(), headers=headers,
                           source_ip=SAFARICOM_IP) for body in bodies], batch_size=2000)
    return [row.pk for row in rows], unique


def wait_until_drained(ids: list[int], worker: subprocess.Popen, log: Path, patience: float = 30) -> None:
    """Until none of the callbacks `ids` is left `received` (in the current schema); fails if
    the worker exits or nothing moves for `patience` seconds."""
    from payments.models import CallbackInbox

    left = CallbackInbox.objects.filter(pk__gte=min(ids), pk__lte=max(ids), status=CallbackInbox.Status.RECEIVED)
    remaining, progressed = len(ids), time.monotonic()
    while remaining:
        time.sleep(0.05)
        now_left = left.count()
        if now_left < remaining:
            remaining, progressed = now_left, time.monotonic()
        elif worker.poll() is not None or time.monotonic() - progressed > patience:
            raise RuntimeError(f"the worker stopped draining with {remaining:,} callbacks left: "
                               f"{log.read_text()[-3000:]}")


def _drain_with_worker(provider, ids: list[int], redis: str, work: Path) -> tuple[float, str, list[str]]:  # type: ignore[no-untyped-def]
    from django.db import connection
    from django_tenants.utils import tenant_context

    from devkit.testing import PYTHON, process
    from majismart.celery import app
    from payments.batch import BATCH
    from payments.tasks import drain_confirmations

    idle, queue = f"bench-callbacks-idle-{os.getpid()}", f"bench-callbacks-drain-{os.getpid()}"
    node = f"bench-callbacks-{os.getpid()}@localhost"
    args = [PYTHON, "-m", "celery", "-A", "majismart", "worker", "--pool=prefork",
            f"--concurrency={WORKER_CONCURRENCY}", "-Q", idle, "-n", node, "--without-gossip", "--without-mingle",
            "--loglevel=WARNING"]
    log = work / "worker.log"
    # Remote control through an app of its own on that Redis: this process's app may have been
    # configured without one (eager, in-memory broker), and control messages go by its broker.
    from celery import Celery

    control = Celery("bench-callbacks-control", broker=redis, set_as_current=False).control
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    task_ids: list[str] = []
    try:
        worker_env = {**_server_env(redis, idle, "majismart.settings.base"), "CELERY_TASK_DEFAULT_QUEUE": queue}
        with process(args, worker_env, log=log) as worker, \
                app.connection_for_write(redis) as conn:
            deadline = time.monotonic() + 60
            while not control.ping(destination=[node], timeout=1.0):
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the worker did not start: {log.read_text()[-2000:]}")
            started = time.perf_counter()
            with tenant_context(provider):  # tenant-schemas-celery stamps the schema on each message
                # As the endpoint does (the callback raising the drain flag): one drain for the backlog,
                # which calls in a helper on the second worker process.
                task_ids.append(drain_confirmations.apply_async(queue=queue, connection=conn).id)
            enqueue_seconds = time.perf_counter() - started
            started = time.perf_counter()
            control.add_consumer(queue, destination=[node], reply=True)
            with tenant_context(provider):
                wait_until_drained(ids, worker, log)
            elapsed = time.perf_counter() - started
    except Exception:
        sys.stderr.write(log.read_text()[-4000:] if log.exists() else "")
        raise
    finally:
        app.conf.task_always_eager = eager
        control.app.close()
        _redis_cleanup(redis, [idle, queue], task_ids)
        connection.set_schema_to_public()
    how = (f"a celery worker (prefork, concurrency {WORKER_CONCURRENCY}): one drain task as the endpoint enqueues it, "
           f"batches of {BATCH} (payments.batch), a helper drain on the second process; enqueued in "
           f"{enqueue_seconds * 1000:.0f} ms")
    return elapsed, how, task_ids


def _drain_in_process(provider, ids: list[int]) -> tuple[float, str]:  # type: ignore[no-untyped-def]
    from django_tenants.utils import tenant_context

    from payments.callbacks import inbox_process

    with tenant_context(provider):
        started = time.perf_counter()
        for inbox_id in ids:
            inbox_process(inbox_id)
        return time.perf_counter() - started, "IN THIS PROCESS, one at a time (no Redis: no worker measured)"


def _drain(provider, accounts: list[str], redis: str | None, work: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from django.db.models import Count, Max, Min
    from django_tenants.utils import tenant_context

    from payments.models import Allocation, CallbackInbox, Payment

    ids, unique = _stored_callbacks(provider, accounts)
    if redis:
        elapsed, how, _ = _drain_with_worker(provider, ids, redis, work)
    else:
        elapsed, how = _drain_in_process(provider, ids)
    with tenant_context(provider):
        statuses = dict(CallbackInbox.objects.filter(pk__in=ids).values_list("status").annotate(n=Count("id")))
        span = CallbackInbox.objects.filter(pk__in=ids).aggregate(first=Min("processed"), last=Max("processed"))
        payments = dict(Payment.objects.values_list("status").annotate(n=Count("id")))
        allocations = Allocation.objects.count()
    total = sum(payments.values())
    yield Verdict("callback drain (payments/s)", f"{total / elapsed:,.0f}", ">= 200", total / elapsed >= 200,
                  f"worker drained {len(ids):,} callbacks in {elapsed:.1f} s: {total / elapsed:,.0f} payments/s "
                  f"(target ≥ 200: {total / elapsed >= 200}); {len(ids) / elapsed:,.0f} callbacks/s")
    yield f"  by {how}"
    yield (f"  payments {total:,} {'=' if total == unique else '≠ (WRONG)'} unique TransIDs {unique:,} "
           f"(by status: {payments}); allocations {allocations:,}; callbacks by status: {statuses}")
    if span["first"] and span["last"]:
        yield (f"  first to last callback processed (the rows' own timestamps): "
               f"{(span['last'] - span['first']).total_seconds():.1f} s")


def run() -> Iterator[str]:
    from django.conf import settings
    from django.db import connection

    from devkit.testing import redis_url
    from tenants.models import Provider

    # The eager billing runs of the set-up log a line each; keep them out of the figures.
    for name in ("celery.app.trace", "kombu.connection"):
        logging.getLogger(name).setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="bench-callbacks-"))  # server and worker logs; kept if it fails
    started = time.perf_counter()
    provider = billed_provider("Bench Callbacks", SLUG, CLIENTS)
    try:
        from django_tenants.utils import tenant_context

        from clients.models import Client

        with tenant_context(provider):
            accounts = list(Client.objects.values_list("account_number", flat=True))
        connection.set_schema_to_public()
        accounts_file = work / "accounts.json"
        accounts_file.write_text(json.dumps(accounts))
        yield (f"provider with {len(accounts):,} clients, two billed months (set-up {time.perf_counter() - started:.1f} s, "
               f"untimed); Redis: {settings.REDIS_URL or 'none configured, a throw-away one'}")
        try:
            redis_context = redis_url()
            redis = redis_context.__enter__()
        except Exception as exc:  # noqa: BLE001 - no Redis at all: the endpoint and drain say so
            redis_context, redis = None, None
            yield f"NO REDIS ({exc!r}): the endpoint enqueues into an in-memory broker; the drain runs in-process"
        try:
            yield from _endpoint(provider, str(accounts_file), redis or "", work)
            if DRAIN:
                yield from _drain(provider, accounts, redis, work)
        finally:
            if redis_context is not None:
                redis_context.__exit__(None, None, None)
    finally:
        connection.set_schema_to_public()
        Provider.objects.get(slug=SLUG).delete(force_drop=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load"]:
        sys.stdout.write(json.dumps(_load(json.loads(sys.argv[2]))) + "\n")
        sys.exit(0)
    # bench/run.py makes the scratch database, migrates it and runs this module by name.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import run as bench_runner

    sys.argv = [sys.argv[0], "callbacks"]
    bench_runner.main()
