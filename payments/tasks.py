from __future__ import annotations

from celery import shared_task

from payments.callbacks import inbox_process


@shared_task(bind=True, acks_late=True, max_retries=40)
def process_callback(self, inbox_id: int) -> str:  # type: ignore[no-untyped-def]
    result = inbox_process(inbox_id)
    if result == "waiting" and not self.request.is_eager:
        # An STK result that beat its own request's commit: look again shortly (the sweeper
        # takes over if this runs out).
        raise self.retry(countdown=3)
    return result


DRAIN_HELPER_KEY = "payments:c2b-drain-helper"
DRAIN_HELPER_SECONDS = 60
DRAIN_TASK_SECONDS = 120
# A running drain shows it is alive at least this often (each batch, each wait); a raised flag
# whose beat is older has lost its drain (the message was never sent, or its worker died) and
# payments.tasks.watch_callbacks queues another.
DRAIN_STALLED_SECONDS = 20
# Callbacks waiting longer than this were not processed by their own task (broker or worker
# down when they came): the watchdog has them swept.
CALLBACK_WAITING_SECONDS = 60


def _drain_alive() -> None:
    """Tell the watchdog this drain is alive. Its own short statement, never inside a batch's
    transaction (holding the flag row there would make every confirmation wait for the batch),
    and at most every two seconds."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE payments_drainflag SET beat = now() WHERE id = 1 AND pending "
                       "AND (beat IS NULL OR beat < now() - interval '2 seconds')")


def _helper_flag_add() -> bool:
    """At most one helper drain per provider at a time (Django's cache carries the schema)."""
    from django.core.cache import cache

    return cache.add(DRAIN_HELPER_KEY, 1, DRAIN_HELPER_SECONDS)


def _drain_idle_unless_work_left() -> bool:
    """Lower the drain flag unless confirmations are waiting; True when work is left (the flag
    stays up). SHARE MODE waits for inserts in flight and holds new ones back until this commits,
    so a confirmation either is seen here or finds the flag lowered and queues a drain itself."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE payments_drainflag SET pending = false WHERE id = 1 AND pending")
        cursor.execute("LOCK TABLE payments_callbackinbox IN SHARE MODE")
        cursor.execute("SELECT EXISTS (SELECT 1 FROM payments_callbackinbox WHERE kind = %s AND status = %s)",
                       ["c2b_confirmation", "received"])
        left = cursor.fetchone()[0]
        if left:
            cursor.execute("UPDATE payments_drainflag SET pending = true WHERE id = 1")
    return left


@shared_task(acks_late=True)
def drain_confirmations(helper: bool = False) -> int:
    """Process the stored C2B confirmations in batches until none is left (payments.batch).
    A backlog (a full batch) calls in one helper drain on another worker process."""
    import time

    from django.core.cache import cache

    from payments.batch import BATCH, process_confirmations

    total, started = 0, time.monotonic()
    while True:
        _drain_alive()
        done = process_confirmations()
        total += done
        if done == BATCH and not helper and _helper_flag_add():
            drain_confirmations.delay(helper=True)
        if done and time.monotonic() - started > DRAIN_TASK_SECONDS:
            # Well inside the task time limit: hand the rest of a long backlog to a fresh task
            # (the flag stays up: the new task owns it).
            if helper:
                cache.delete(DRAIN_HELPER_KEY)
            else:
                drain_confirmations.delay()
            return total
        if done:
            continue
        if helper:
            cache.delete(DRAIN_HELPER_KEY)
            return total
        if not _drain_idle_unless_work_left():
            return total
        time.sleep(0.05)  # rows held by the helper's batch: let it finish


@shared_task
def sweep_inbox() -> int:
    """Callbacks stored but never processed (the broker or worker was down): process them now,
    oldest first; returns how many were settled (processed, duplicate or flagged)."""
    from datetime import timedelta

    from django.utils import timezone

    from payments.batch import process_confirmations
    from payments.inbox import inbox_reopen_decryptable
    from payments.models import CallbackInbox

    inbox_reopen_decryptable()  # bodies a restored key opens again: queued like the rest below
    done = 0
    stale = CallbackInbox.objects.filter(status=CallbackInbox.Status.RECEIVED,
                                         received__lt=timezone.now() - timedelta(seconds=CALLBACK_WAITING_SECONDS)
                                         ).order_by("received", "id")
    if stale.filter(kind=CallbackInbox.Kind.C2B_CONFIRMATION).exists():
        # Confirmations left waiting: their drain was lost (broker or worker down). Take them,
        # then lower the flag unless more came meanwhile (so the next one queues a drain again).
        while batch := process_confirmations():
            done += batch
        _drain_idle_unless_work_left()
    for inbox_id in stale.exclude(kind=CallbackInbox.Kind.C2B_CONFIRMATION).values_list("id", flat=True)[:5000]:
        if inbox_process(inbox_id) not in ("taken", "waiting"):
            done += 1
    return done


@shared_task(due_sql=(  # tenants.tasks.fan_out sends it only where a push waits past the delay
    "EXISTS (SELECT 1 FROM {q}.payments_paymentrequest r WHERE r.status = 'pending' AND r.channel = 'stk' "
    "AND r.created < now() - make_interval(secs => {settings.STK_QUERY_AFTER_SECONDS}) "
    "AND NOT starts_with(r.reference, 'new-'))"))
def query_stale_stk() -> int:
    """STK pushes with no callback after a few minutes: ask Daraja's STK query."""
    from payments.mpesa import stk_query_stale

    return stk_query_stale()


# --- what clients are told (payments/notices.py) -----------------------------------------------
@shared_task(acks_late=True)
def invoice_notices_task(invoice_ids: list[int]) -> int:
    from payments.notices import invoice_notices

    return invoice_notices(invoice_ids)


@shared_task(acks_late=True)
def payment_receipts_task(payment_ids: list[int]) -> int:
    from payments.notices import payment_receipts

    return payment_receipts(payment_ids)


@shared_task
def send_reminders() -> dict[str, int]:
    """Hourly, per provider: sends from the provider's reminder hour, each reminder once."""
    from payments.notices import reminders_send

    return reminders_send()


# One statement over every provider schema: for each, whether its drain has stalled (the flag up
# with an old beat, or confirmations waiting with the flag down) and whether other callbacks are
# waiting. The oldest waiting row of a kind is one index probe (inbox_waiting: kind, id).
_WATCH_SQL = """
SELECT %(name)s,
       CASE WHEN f.pending THEN coalesce(f.beat, '-infinity') < now() - make_interval(secs => %(stalled)s)
            ELSE (SELECT i.received FROM {q}.payments_callbackinbox i WHERE i.status = 'received'
                  AND i.kind = 'c2b_confirmation' ORDER BY i.id LIMIT 1) < now() - make_interval(secs => %(waiting)s)
       END IS TRUE,
       least((SELECT i.received FROM {q}.payments_callbackinbox i WHERE i.status = 'received'
              AND i.kind = 'stk_callback' ORDER BY i.id LIMIT 1),
             (SELECT i.received FROM {q}.payments_callbackinbox i WHERE i.status = 'received'
              AND i.kind = 'paystack' ORDER BY i.id LIMIT 1)) < now() - make_interval(secs => %(waiting)s) IS TRUE
FROM {q}.payments_drainflag f WHERE f.id = 1"""


def _provider_schemas() -> list[str]:
    """Every provider's schema that has its payment tables (suspended ones too: their callbacks
    are stored and processed; a schema still being created is left for the next round)."""
    from django.db import connection

    from tenants.selectors import providers

    names = set(providers().values_list("schema_name", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE c.relname = 'payments_drainflag' AND c.relkind = 'r'")
        return sorted(names & {row[0] for row in cursor.fetchall()})


@shared_task(platform_task=True, ignore_result=True)
def watch_callbacks() -> dict[str, list[str]]:
    """Every few seconds (beat), for every provider at once: a drain of M-Pesa confirmations that
    stalled is queued again, and callbacks left waiting are swept. So nothing depends on one task
    message: a drain lost to a broker outage, or to a worker killed mid-drain, is replaced within
    seconds of the broker and a worker being back."""
    from django.db import connection
    from django_tenants.utils import schema_context

    from majismart.sql import quote_ident

    schemas = _provider_schemas()
    if not schemas:
        return {"drains": [], "sweeps": []}
    sql: list[str] = []
    params: dict[str, int | str] = {"stalled": DRAIN_STALLED_SECONDS, "waiting": CALLBACK_WAITING_SECONDS}
    for n, schema in enumerate(schemas):
        sql.append(_WATCH_SQL.replace("%(name)s", f"%(s{n})s").format(q=quote_ident(schema)))
        params[f"s{n}"] = schema
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(sql), params)
        found = cursor.fetchall()
    drains, sweeps = [], []
    for schema, drain_due, sweep_due in found:
        with schema_context(schema):
            if drain_due and _drain_claim():
                drain_confirmations.apply_async()
                drains.append(schema)
            if sweep_due:
                sweep_inbox.apply_async()
                sweeps.append(schema)
    if drains or sweeps:
        import logging

        logging.getLogger(__name__).warning("Callbacks left waiting: drains queued again for %s; sweeps for %s",
                                            drains or "none", sweeps or "none")
    return {"drains": drains, "sweeps": sweeps}


def _drain_claim() -> bool:
    """Raise the flag afresh for a drain the watchdog is about to queue; False when another
    round (or a confirmation) did it meanwhile."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE payments_drainflag SET pending = true, beat = now() WHERE id = 1 AND "
                       "(NOT pending OR coalesce(beat, '-infinity') < now() - make_interval(secs => %s)) RETURNING 1",
                       [DRAIN_STALLED_SECONDS])
        return cursor.fetchone() is not None
