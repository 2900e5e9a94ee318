from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def process_inbound_sms(inbound_id: int) -> str:
    from selfservice.sms import inbound_process

    return inbound_process(inbound_id)


@shared_task
def sweep_inbound_sms() -> int:
    """Every minute, per provider: incoming SMS stored while the broker was down, answered now."""
    from selfservice.sms import inbound_sweep

    return inbound_sweep()


@shared_task
def purge_selfservice() -> dict[str, int]:
    """Daily, per provider: USSD sessions and incoming SMS past the callbacks' retention."""
    from selfservice.retention import selfservice_purge

    return selfservice_purge()
