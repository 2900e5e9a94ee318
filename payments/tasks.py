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


# Set while a drain of C2B confirmations is queued or running for a provider (cache keys carry
# the schema): a burst of callbacks enqueues one task, not one each.
DRAIN_KEY = "payments:c2b-drain"
DRAIN_KEY_SECONDS = 60


class _Flags:
    """Set-if-absent flags per provider, straight on Redis (a fraction of a millisecond on the
    busiest endpoint), or on Django's cache when tasks run eagerly (no Redis, or tests)."""

    _client = None

    @classmethod
    def _redis(cls):  # type: ignore[no-untyped-def]
        from django.conf import settings

        from majismart.celery import app

        if not settings.REDIS_URL or app.conf.task_always_eager:
            return None
        if cls._client is None:
            import redis

            cls._client = redis.Redis.from_url(settings.REDIS_URL)
        return cls._client

    @staticmethod
    def _key(name: str) -> str:
        from django.db import connection

        return f"majismart:{connection.schema_name}:{name}"

    @classmethod
    def add(cls, name: str) -> bool:
        client = cls._redis()
        if client is None:
            from django.core.cache import cache

            return cache.add(name, 1, DRAIN_KEY_SECONDS)
        return bool(client.set(cls._key(name), 1, nx=True, ex=DRAIN_KEY_SECONDS))

    @classmethod
    def set(cls, name: str) -> None:
        client = cls._redis()
        if client is None:
            from django.core.cache import cache

            cache.set(name, 1, DRAIN_KEY_SECONDS)
        else:
            client.set(cls._key(name), 1, ex=DRAIN_KEY_SECONDS)

    @classmethod
    def delete(cls, name: str) -> None:
        client = cls._redis()
        if client is None:
            from django.core.cache import cache

            cache.delete(name)
        else:
            client.delete(cls._key(name))


def drain_enqueue() -> None:
    """After a C2B confirmation is stored (and committed): make sure a drain is on its way."""
    if _Flags.add(DRAIN_KEY):
        drain_confirmations.delay()


DRAIN_HELPER_KEY = "payments:c2b-drain-helper"
DRAIN_TASK_SECONDS = 120


@shared_task(acks_late=True)
def drain_confirmations(helper: bool = False) -> int:
    """Process the stored C2B confirmations in batches until none is left (payments.batch).
    A backlog (a full batch) calls in one helper drain on another worker process."""
    from payments.batch import BATCH, process_confirmations
    from payments.models import CallbackInbox

    import time

    total, started = 0, time.monotonic()
    while True:
        done = process_confirmations()
        total += done
        if done == BATCH and not helper and _Flags.add(DRAIN_HELPER_KEY):
            drain_confirmations.delay(helper=True)
        if done and time.monotonic() - started > DRAIN_TASK_SECONDS:
            # Well inside the task time limit: hand the rest of a long backlog to a fresh task.
            if helper:
                _Flags.delete(DRAIN_HELPER_KEY)
            else:
                _Flags.set(DRAIN_KEY)
                drain_confirmations.delay()
            return total
        if done:
            continue
        if helper:
            _Flags.delete(DRAIN_HELPER_KEY)
            return total
        _Flags.delete(DRAIN_KEY)
        # A callback stored while the key was still set did not enqueue: take it too. Rows
        # another drain holds are its own to finish.
        left = (CallbackInbox.objects.select_for_update(skip_locked=True)
                .filter(kind=CallbackInbox.Kind.C2B_CONFIRMATION, status=CallbackInbox.Status.RECEIVED))
        from django.db import transaction

        with transaction.atomic():
            if not left.exists():
                return total
        _Flags.add(DRAIN_KEY)


@shared_task
def sweep_inbox() -> int:
    """Callbacks stored but never processed (the broker or worker was down): process them now,
    oldest first; returns how many were settled (processed, duplicate or flagged)."""
    from datetime import timedelta

    from django.utils import timezone

    from payments.batch import process_confirmations
    from payments.models import CallbackInbox

    done = 0
    stale = CallbackInbox.objects.filter(status=CallbackInbox.Status.RECEIVED,
                                         received__lt=timezone.now() - timedelta(minutes=2)).order_by("received", "id")
    if stale.filter(kind=CallbackInbox.Kind.C2B_CONFIRMATION).exists():
        while batch := process_confirmations():
            done += batch
    for inbox_id in stale.exclude(kind=CallbackInbox.Kind.C2B_CONFIRMATION).values_list("id", flat=True)[:5000]:
        if inbox_process(inbox_id) not in ("taken", "waiting"):
            done += 1
    return done


@shared_task
def query_stale_stk() -> int:
    """STK pushes with no callback after a few minutes: ask Daraja's STK query."""
    from payments.collect import stk_query_stale

    return stk_query_stale()
