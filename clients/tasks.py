from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def broadcast_prepare_task(broadcast_id: int) -> int:
    from clients.broadcasts import broadcast_prepare

    return broadcast_prepare(broadcast_id).prepared
