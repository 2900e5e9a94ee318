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


@shared_task
def sweep_inbox() -> int:
    """Callbacks stored but never processed (the broker or worker was down): process them now,
    oldest first; returns how many were settled (processed, duplicate or flagged)."""
    from datetime import timedelta

    from django.utils import timezone

    from payments.models import CallbackInbox

    stale = CallbackInbox.objects.filter(status=CallbackInbox.Status.RECEIVED,
                                         received__lt=timezone.now() - timedelta(minutes=2)).order_by("received", "id")
    done = 0
    for inbox_id in stale.values_list("id", flat=True)[:5000]:  # oldest first
        if inbox_process(inbox_id) not in ("taken", "waiting"):
            done += 1
    return done


@shared_task
def query_stale_stk() -> int:
    """STK pushes with no callback after a few minutes: ask Daraja's STK query."""
    from payments.collect import stk_query_stale

    return stk_query_stale()
