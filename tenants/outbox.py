"""Task messages the broker could not take, kept in PostgreSQL and sent when it takes them again.

A `.delay()` in a request, in beat or in a task must neither fail nor hang because Redis is down
or cut off. `MajiCelery.send_task` (majismart.celery) gives the broker a few seconds at most;
when it fails, or failed moments ago in this process (majismart.breaker), the message is handed
to the keeper this module registers on the Celery app (TenantsConfig.ready) and kept here
instead (tenants.UnsentTask, in the public schema, with the provider schema it was meant
for) and the caller goes on. `send_unsent`, run by beat every few seconds in a worker, sends the
kept messages, oldest first, as soon as the broker answers again.

Every task of the project is idempotent (a claim, a unique key or a status decides), so a
message kept twice is kept once, and one sent twice does no harm.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from majismart import crypto
from tenants.models import UnsentTask

log = logging.getLogger(__name__)

SEND_BATCH = 500


def _eta(options: dict[str, Any]) -> datetime | None:
    eta = options.get("eta")
    if isinstance(eta, str):
        eta = datetime.fromisoformat(eta)
    if eta is None and options.get("countdown"):
        eta = timezone.now() + timedelta(seconds=float(options["countdown"]))
    return eta


def keep(*, schema: str, name: str, task_id: str, args: Any, kwargs: Any, options: dict[str, Any],
         error: BaseException | None) -> bool:
    """Keep a message the broker did not take; False when it could not be kept either (the
    database is down too: the domain's own sweepers, e.g. the callback inbox, are the last word)."""
    args, kwargs = list(args or []), dict(kwargs or {})
    eta = _eta(options)
    content = {"args": args, "kwargs": kwargs, "retries": options.get("retries") or 0}
    if isinstance(options.get("queue"), str):
        content["queue"] = options["queue"]
    body = json.dumps(content, sort_keys=True, default=str)
    row = UnsentTask(schema_name=schema, task_name=name, task_id=task_id, payload=body, eta=eta,
                     fingerprint=crypto.keyed_digest(f"{schema}\x1f{name}\x1f{body}"),
                     last_error=f"{type(error).__name__}: {error}"[:300] if error else "broker unreachable moments ago")
    try:
        # ON CONFLICT DO NOTHING: the same message kept twice (a beat entry while Redis is down,
        # a drain asked for by two callbacks) is kept once.
        UnsentTask.objects.bulk_create([row], ignore_conflicts=True)
    except Exception:  # noqa: BLE001 - the caller must go on; say what was lost
        log.exception("Task %s for %s could be neither sent nor kept", name, schema)
        return False
    return True


def send_unsent(send: Any, limit: int = SEND_BATCH) -> int:
    """Send kept messages, oldest first; stops at the first the broker refuses (it is still down:
    the rest wait for the next run). `send(name, args, kwargs, **options)` publishes one message
    without keeping it again. Returns how many were sent."""
    sent = 0
    # The rows stay locked (SKIP LOCKED: two runs never send the same message at once) and are
    # deleted only after the broker took them, in the same transaction: a crash in between sends
    # a message twice (harmless: tasks are idempotent), never loses one.
    with transaction.atomic():
        rows = list(UnsentTask.objects.select_for_update(skip_locked=True).order_by("created", "id")[:limit])
        done = []
        for row in rows:
            content = json.loads(row.payload)
            options: dict[str, Any] = {"task_id": row.task_id, "headers": {"_schema_name": row.schema_name},
                                       "retries": content.get("retries", 0)}
            if row.eta is not None and row.eta > timezone.now():
                options["eta"] = row.eta
            if content.get("queue"):
                options["queue"] = content["queue"]
            try:
                send(row.task_name, content["args"], content["kwargs"], **options)
            except Exception as exc:  # noqa: BLE001 - still down: keep the rest for the next run
                UnsentTask.objects.filter(pk=row.pk).update(attempts=row.attempts + 1,
                                                            last_error=f"{type(exc).__name__}: {exc}"[:300])
                break
            done.append(row.pk)
            sent += 1
        UnsentTask.objects.filter(pk__in=done).delete()
    if sent:
        log.warning("Sent %s task message(s) kept while the broker was unreachable", sent)
    return sent
