from __future__ import annotations

from celery import shared_task

from payments.services import inbox_process


@shared_task(acks_late=True)
def process_callback(inbox_id: int) -> str:
    return inbox_process(inbox_id)


@shared_task
def sweep_inbox() -> int:
    """Callbacks stored but never processed (the broker or worker was down): process them now."""
    from datetime import timedelta

    from django.utils import timezone

    from payments.models import CallbackInbox

    stale = CallbackInbox.objects.filter(status=CallbackInbox.Status.RECEIVED,
                                         received__lt=timezone.now() - timedelta(minutes=2))
    done = 0
    for inbox_id in stale.values_list("id", flat=True)[:5000]:
        inbox_process(inbox_id)
        done += 1
    return done
