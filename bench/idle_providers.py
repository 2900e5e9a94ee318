"""Beat's every-minute jobs at many idle providers: broker messages per minute, sent only where work is due (shipped) against one per provider (baseline).

Creates N providers (`BENCH_IDLE_PROVIDERS`, default 50; the issue's figure is 1,000), of which
`BENCH_IDLE_BUSY` (default 2) have something due for each job, then runs one simulated minute:
every beat entry that fires each minute, through `tenants.tasks.fan_out` as beat sends it. The
baseline is what fan_out sent before the jobs said when they have work: one message per active
provider per job. Also timed: asking every schema what is due (majismart.sql.across_schemas,
SCHEMAS_PER_STATEMENT schemas a statement).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta

from _verdict import Verdict
from django.conf import settings
from django.db import connection
from django.utils import timezone

PROVIDERS = int(os.environ.get("BENCH_IDLE_PROVIDERS", "50"))
BUSY = int(os.environ.get("BENCH_IDLE_BUSY", "2"))


def _every_minute_jobs() -> list[str]:
    from majismart.celery import PERIODIC_TASKS

    return [spec["args"][0] for spec in PERIODIC_TASKS.values()
            if spec["task"] == "tenants.tasks.fan_out" and spec.get("crontab") == {"minute": "*"}]


def _make_busy(provider: object) -> None:
    """Something due for each every-minute job: a push unanswered, a retry due, an SMS unanswered."""
    from django_tenants.utils import tenant_context

    from clients.models import Category, Client
    from notifications.models import Message
    from payments.models import PaymentRequest
    from selfservice.models import InboundSms

    old = timezone.now() - timedelta(hours=1)
    with tenant_context(provider):
        client = Client.objects.create(account_number="BUSY-1", full_name="Busy Client",
                                       category=Category.objects.get(code="domestic"))
        PaymentRequest.objects.create(channel="stk", reference="ws_CO_BENCH", client=client, amount=10,
                                      phone="+254700000001")
        PaymentRequest.objects.update(created=old)
        Message.objects.create(channel="sms", event="invoice", purpose="billing", client_id=client.pk,
                               recipient="+254700000001", text="Bench", status="queued", dedup_key="bench:1",
                               next_attempt_at=old)
        InboundSms.objects.create(at_id="bench-1")
        InboundSms.objects.update(received=old)


def run() -> Iterator[str]:
    from majismart.celery import app
    from majismart.sql import SCHEMAS_PER_STATEMENT, across_schemas
    from tenants.selectors import active_providers
    from tenants.services import provider_create, template_schema_ensure
    from tenants.tasks import fan_out

    app.conf.task_always_eager = True  # the jobs due run here; nothing is left in a broker
    app.loader.import_default_modules()  # every app's tasks, as a worker has them
    template_schema_ensure()
    settings.TENANT_CREATION_FAKES_MIGRATIONS = True  # cloned from the template, as shipped
    started = time.perf_counter()
    existing = active_providers().count()
    for i in range(existing, PROVIDERS):
        provider_create(name=f"Idle {i}", slug=f"idle-{i}", owner_email=f"o@idle-{i}.bench",
                        owner_password="bench-password-1")
        connection.set_schema_to_public()
    providers = list(active_providers().order_by("slug"))
    for provider in providers[:BUSY]:
        _make_busy(provider)
    connection.set_schema_to_public()
    yield f"{len(providers)} active providers ({BUSY} with work due), made in {time.perf_counter() - started:.0f} s"
    jobs = _every_minute_jobs()
    baseline = len(jobs) * (1 + len(providers))  # fan_out's own message, then one per provider
    shipped = 0
    for job in jobs:
        shipped += 1 + len(fan_out.apply(args=[job]).get())  # eager: the jobs due run here too
    connection.set_schema_to_public()
    yield f"every-minute jobs: {', '.join(jobs)}"
    yield f"messages in one minute: baseline (one per provider) {baseline}, shipped (only where due) {shipped}"
    yield f"ratio baseline/shipped: {baseline / shipped:.1f}x (shipped = {len(jobs)} fan-outs + {shipped - len(jobs)} due)"
    # The busy providers have something due for every job; whatever else was sent went to idle ones.
    idle = max(0, shipped - len(jobs) * (1 + BUSY))
    yield Verdict(f"beat messages a minute to {len(providers) - BUSY:,} idle providers", f"{idle}", "near 0 (<= 1)",
                  idle <= 1, f"messages to idle providers in one minute: {idle}")
    from notifications.services import SWEEP_DUE_SQL

    schemas = [provider.schema_name for provider in providers]
    started = time.perf_counter()
    across_schemas("SELECT 1 WHERE " + SWEEP_DUE_SQL, schemas=schemas)
    yield (f"asking {len(schemas)} schemas what is due ({SCHEMAS_PER_STATEMENT} schemas a statement): "
           f"{time.perf_counter() - started:.3f} s")
