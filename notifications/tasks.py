from __future__ import annotations

from celery import shared_task

from notifications.services import SWEEP_DUE_SQL


@shared_task(acks_late=True, time_limit=600, soft_time_limit=540)
def send_messages_task(ids: list[int]) -> dict[str, int]:
    """Send these messages (those still queued and due: a redelivery sends nothing twice)."""
    from notifications.services import send_messages

    return send_messages(ids)


@shared_task(due_sql=SWEEP_DUE_SQL)  # tenants.tasks.fan_out sends it only where it has work
def sweep_messages() -> int:
    """Every minute, per provider: messages out of quiet hours, retries due, lost tasks."""
    from notifications.services import sweep

    return sweep()
