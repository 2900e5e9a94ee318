"""Payments' reactions to billing and to its own events (connected in PaymentsConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import receiver

from billing.models import Invoice
from billing.signals import billing_run_finalized

NOTICE_CHUNK = 500


@receiver(billing_run_finalized)
def tell_clients_of_their_bills(sender: Any, run_id: int, **kwargs: Any) -> None:
    """The bill SMS and emails, in chunks (a run can issue 100,000 invoices)."""
    from payments.tasks import invoice_notices_task

    ids = list(Invoice.objects.filter(run_id=run_id, status=Invoice.Status.ISSUED).order_by("id")
               .values_list("id", flat=True))
    for start in range(0, len(ids), NOTICE_CHUNK):
        invoice_notices_task.delay(ids[start:start + NOTICE_CHUNK])


def receipts_queue(payment_ids: list[int]) -> None:
    """After the payments' transaction commits, the receipt SMS and emails are composed."""
    from payments.tasks import payment_receipts_task

    if payment_ids:
        transaction.on_commit(lambda: payment_receipts_task.delay(list(payment_ids)))


