from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def payments_settled_task(payment_ids: list[int]) -> None:
    from arrears.services import payments_settled

    payments_settled(payment_ids)


@shared_task
def daily() -> dict[str, int]:
    """Daily, per provider: plans with an instalment missed past grace are broken; the
    disconnections whose date has come get their work order (or are cancelled)."""
    from arrears.services import disconnections_due, plans_break_missed

    return {"plans_broken": plans_break_missed(), "orders_opened": disconnections_due()}
