"""Arrears' reactions to payments and field work (connected in ArrearsConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import receiver

from arrears.tasks import payments_settled_task
from fieldwork.models import WorkOrder
from fieldwork.signals import work_order_finished
from payments.signals import payments_settled


@receiver(payments_settled)
def count_payments_towards_arrears(sender: Any, payment_ids: list[int], **kwargs: Any) -> None:
    """After the payments commit: plans, disconnections they cancel, reconnections they complete."""
    if payment_ids:
        ids = list(payment_ids)
        transaction.on_commit(lambda: payments_settled_task.delay(ids))


@receiver(work_order_finished)
def field_order_finished(sender: Any, order: WorkOrder, **kwargs: Any) -> None:
    from arrears.services import work_order_finished as finished

    finished(order)
