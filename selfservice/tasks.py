from __future__ import annotations

from celery import shared_task

from selfservice.sms import SWEEP_DUE_SQL


@shared_task(acks_late=True)
def process_inbound_sms(inbound_id: int) -> str:
    from selfservice.sms import inbound_process

    return inbound_process(inbound_id)


@shared_task(acks_late=True)
def ussd_pay(client_id: int, phone: str, amount: int, lang: str) -> str:
    """The M-Pesa prompt a caller asked for on USSD (after its session's screen has gone)."""
    from selfservice.services import pay_start

    request = pay_start(client_id=client_id, phone=phone, amount=amount, lang=lang)
    return request.status if request is not None else "refused"


@shared_task(due_sql=SWEEP_DUE_SQL)  # tenants.tasks.fan_out sends it only where it has work
def sweep_inbound_sms() -> int:
    """Every minute, per provider: incoming SMS stored while the broker was down, answered now."""
    from selfservice.sms import inbound_sweep

    return inbound_sweep()


@shared_task
def purge_selfservice() -> dict[str, int]:
    """Daily, per provider: USSD sessions and incoming SMS past the callbacks' retention."""
    from selfservice.retention import selfservice_purge

    return selfservice_purge()
