"""C2B drain while a bill run's PDFs render: 10,000 stored confirmations drained by the payments worker alone (baseline), then the same while a 20,000-bill PDF batch renders on the documents worker.

As docker-compose runs them: separate queues (majismart/queues.py) and separate workers, each
with the concurrency and WORKER_NICENESS docker-compose.yml gives its service (worker-payments,
worker-documents; the payments worker's processes capped at the CPUs here, BENCH_DRAIN_CONCURRENCY
to choose). Both are real `celery worker` processes (prefork) on a real Redis (REDIS_URL or a
throw-away one), with DEBUG off, persistent connections and queues under a prefix of the bench's
own. BENCH_DRAIN_NICENESS=0 runs the documents worker at the usual priority instead, to see
what the niceness is worth.

A provider with BENCH_RENDER_BILLS clients (default 20,000; bench/billing_run.py's set-up: tariffs,
meters, two billed months, most of them paid). The PDF batch is the latest run's bills, queued in
chunks as billing.receivers.queue_invoice_pdfs queues them, into the documents queue.

Rounds: each stores BENCH_CALLBACK_DRAIN C2B confirmations as bench/callbacks.py's drain does
(default 10,000; TransIDs of its own, 1% re-deliveries, 2% unknown accounts), untimed, then sends one `drain_confirmations` as the endpoint
does; the clock runs from the send until no callback of the round is left `received`.
BENCH_DRAIN_ROUNDS rounds alone (default 2), then the documents worker starts on the batch and,
once it has stored its first PDFs, as many rounds during the render; every round during the
render must end before the batch does (checked: PDFs were stored during each, and some were still
to come). Figures: the median drain of each phase and their ratio (target <= 1.5x); PDFs/s during.

Standalone: python bench/drain_under_render.py
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _verdict import Verdict

BILLS = int(os.environ.get("BENCH_RENDER_BILLS", "20000"))
ROUNDS = int(os.environ.get("BENCH_DRAIN_ROUNDS", "2"))
CONCURRENCY = os.environ.get("BENCH_DRAIN_CONCURRENCY", "")
NICENESS = os.environ.get("BENCH_DRAIN_NICENESS", "")
TARGET = 1.5
SLUG = "bench-drain-render"
ROOT = Path(__file__).resolve().parent.parent


def _pdfs(media: Path) -> int:
    return sum(1 for _ in media.rglob("*.pdf"))


def _drain(provider, ids: list[int], conn, worker, log: Path) -> float:  # type: ignore[no-untyped-def]
    """Seconds from sending one drain, as the endpoint does, until none of `ids` is left."""
    from callbacks import wait_until_drained
    from django_tenants.utils import tenant_context

    from payments.tasks import drain_confirmations

    with tenant_context(provider):
        started = time.perf_counter()
        drain_confirmations.apply_async(connection=conn)  # routed to the payments queue (the prefix's)
        wait_until_drained(ids, worker, log, patience=60)
        return time.perf_counter() - started


def _queue_batch(provider, conn) -> int:  # type: ignore[no-untyped-def]
    """The latest run's bills, chunked as billing.receivers.queue_invoice_pdfs chunks them."""
    from django_tenants.utils import tenant_context

    from billing.models import BillingRun, Invoice
    from billing.receivers import PDF_TASK_CHUNK
    from billing.tasks import invoices_render_task

    with tenant_context(provider):
        run = BillingRun.objects.filter(status=BillingRun.Status.FINALIZED).latest("pk")
        ids = list(Invoice.objects.filter(run=run, status=Invoice.Status.ISSUED).order_by("pk")
                   .values_list("pk", flat=True))
        for start in range(0, len(ids), PDF_TASK_CHUNK):
            invoices_render_task.apply_async((ids[start:start + PDF_TASK_CHUNK],), connection=conn)
    return len(ids)


def _compose_worker(group: str) -> tuple[int, str]:
    """(concurrency, WORKER_NICENESS) of docker-compose.yml's worker for `group`."""
    import yaml

    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][f"worker-{group}"]
    [concurrency] = [int(arg.split("=", 1)[1]) for arg in service["command"] if arg.startswith("--concurrency=")]
    return concurrency, str(service["environment"].get("WORKER_NICENESS", "0"))


def _worker_args(group: str, prefix: str, concurrency: int) -> list[str]:
    from devkit.testing import PYTHON
    from majismart.queues import queue_name

    return [PYTHON, "-m", "celery", "-A", "majismart", "worker", "--pool=prefork", f"--concurrency={concurrency}",
            "-Q", queue_name(group, prefix), "-n", f"{prefix}{group}@localhost", "--without-gossip",
            "--without-mingle", "--loglevel=WARNING"]


def run() -> Iterator[str]:
    import secrets

    from callbacks import _stored_callbacks, billed_provider
    from celery import Celery
    from django.db import connection
    from django_tenants.utils import tenant_context

    from clients.models import Client
    from devkit.testing import child_env, process, redis_url
    from majismart.celery import app
    from majismart.queues import DOCUMENTS, PAYMENTS, all_queues
    from tenants.models import Provider

    for name in ("celery.app.trace", "kombu.connection"):
        logging.getLogger(name).setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="bench-drain-render-"))
    media = work / "media"
    started = time.perf_counter()
    provider = billed_provider("Bench Drain Render", SLUG, BILLS)
    try:
        with tenant_context(provider):
            accounts = list(Client.objects.values_list("account_number", flat=True))
        connection.set_schema_to_public()
        yield (f"provider with {len(accounts):,} clients, two billed months (set-up {time.perf_counter() - started:.0f} s, "
               f"untimed); {os.cpu_count()} CPUs shared by both workers, PostgreSQL and Redis")
        prefix = f"bench-drain-{os.getpid()}-"
        payments_concurrency, payments_nice = _compose_worker(PAYMENTS)
        payments_concurrency = int(CONCURRENCY or min(payments_concurrency, os.cpu_count() or 2))
        documents_concurrency, documents_nice = _compose_worker(DOCUMENTS)
        documents_nice = NICENESS or documents_nice
        yield (f"workers as docker-compose.yml runs them: payments {payments_concurrency} processes at niceness "
               f"{payments_nice}, documents {documents_concurrency} at niceness {documents_nice}")
        with redis_url() as redis:
            env = child_env(DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), EMAIL_URL="consolemail://",
                            CONN_MAX_AGE="60", CELERY_TASK_ALWAYS_EAGER="false", REDIS_URL=redis,
                            CELERY_QUEUE_PREFIX=prefix, CELERY_TASK_DEFAULT_QUEUE=f"{prefix}default",
                            MEDIA_DIR=str(media), LOG_LEVEL="WARNING")
            control = Celery("bench-drain-control", broker=redis, set_as_current=False).control
            eager, was_prefix = app.conf.task_always_eager, app.conf.get("queue_prefix")
            app.conf.task_always_eager, app.conf.queue_prefix = False, prefix
            payments_log, documents_log = work / "payments.log", work / "documents.log"
            try:
                with process(_worker_args(PAYMENTS, prefix, payments_concurrency),
                             {**env, "WORKER_GROUP": PAYMENTS, "WORKER_NICENESS": payments_nice},
                             log=payments_log) as payments, app.connection_for_write(redis) as conn:
                    _wait_for(control, f"{prefix}{PAYMENTS}@localhost", payments, payments_log)
                    alone = []
                    for i in range(ROUNDS):
                        ids, _ = _stored_callbacks(provider, accounts, tag=f"A{i}", clear=False)
                        alone.append(_drain(provider, ids, conn, payments, payments_log))
                    yield "drain alone: " + ", ".join(f"{s:.2f} s" for s in alone) + f" ({len(ids):,} callbacks each)"

                    queued = _queue_batch(provider, conn)
                    during, rendered = [], []
                    with process(_worker_args(DOCUMENTS, prefix, documents_concurrency),
                                 {**env, "WORKER_GROUP": DOCUMENTS, "WORKER_NICENESS": documents_nice},
                                 log=documents_log) as documents:
                        render_started = time.perf_counter()
                        while _pdfs(media) < 50:  # rendering is under way
                            if documents.poll() is not None or time.perf_counter() - render_started > 300:
                                raise RuntimeError(f"no PDFs rendered: {documents_log.read_text()[-3000:]}")
                            time.sleep(0.1)
                        for i in range(ROUNDS):
                            ids, _ = _stored_callbacks(provider, accounts, tag=f"R{i}", clear=False)
                            before = _pdfs(media)
                            seconds = _drain(provider, ids, conn, payments, payments_log)
                            after = _pdfs(media)
                            if after <= before or after >= queued:
                                raise RuntimeError(f"round {i}: the batch was not rendering throughout "
                                                   f"({before:,} -> {after:,} of {queued:,} PDFs)")
                            during.append(seconds)
                            rendered.append((after - before) / seconds)
                        stored_so_far = _pdfs(media)
                        render_seconds = time.perf_counter() - render_started
            finally:
                app.conf.task_always_eager, app.conf.queue_prefix = eager, was_prefix
                control.app.close()
                from callbacks import _redis_cleanup

                _redis_cleanup(redis, [*all_queues(prefix), f"{prefix}default"], [])
        yield ("drain while the batch renders: " + ", ".join(f"{s:.2f} s" for s in during)
               + f"; the documents worker stored {', '.join(f'{r:.0f}' for r in rendered)} PDFs/s meanwhile "
               f"({stored_so_far:,} of {queued:,} in {render_seconds:.0f} s when stopped)")
        ratio = statistics.median(during) / statistics.median(alone)
        yield Verdict(f"C2B drain during a {queued:,}-bill PDF batch / alone", f"{ratio:.2f}x", f"<= {TARGET:g}x",
                      ratio <= TARGET, f"median drain {statistics.median(during):.2f} s during the render, "
                      f"{statistics.median(alone):.2f} s alone: {ratio:.2f}x (target <= {TARGET:g}x)")
    finally:
        connection.set_schema_to_public()
        Provider.objects.get(slug=SLUG).delete(force_drop=True)
        shutil.rmtree(work, ignore_errors=True)


def _wait_for(control, node: str, worker, log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while not control.ping(destination=[node], timeout=1.0):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not start: {log.read_text()[-2000:]}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import run as bench_runner

    sys.argv = [sys.argv[0], "drain_under_render"]
    bench_runner.main()
