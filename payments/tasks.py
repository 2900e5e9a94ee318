from __future__ import annotations

from celery import shared_task

from payments.services import inbox_process


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
    from payments.models import CallbackInbox
    from payments.services import inbox_reopen_decryptable

    inbox_reopen_decryptable()  # bodies a restored key opens again: queued like the rest below
    done = 0
    stale = CallbackInbox.objects.filter(status=CallbackInbox.Status.RECEIVED,
                                         received__lt=timezone.now() - timedelta(minutes=2)).order_by("received", "id")
    if stale.filter(kind=CallbackInbox.Kind.C2B_CONFIRMATION).exists():
        # Confirmations two minutes old: their drain was lost (broker or worker down). Take
        # them, and lower the flag so the next confirmation queues a drain again.
        while batch := process_confirmations():
            done += batch
        from payments.models import DrainFlag

        DrainFlag.objects.update_or_create(pk=1, defaults={"pending": False})
    for inbox_id in stale.exclude(kind=CallbackInbox.Kind.C2B_CONFIRMATION).values_list("id", flat=True)[:5000]:
        if inbox_process(inbox_id) not in ("taken", "waiting"):
            done += 1
    return done


@shared_task
def query_stale_stk() -> int:
    """STK pushes with no callback after a few minutes: ask Daraja's STK query."""
    from payments.collect import stk_query_stale

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
