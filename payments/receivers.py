"""Payments' reactions to billing and to its own events (connected in PaymentsConfig.ready): the
top of payments, where what happens below reaches the Celery tasks."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import receiver

from billing.models import Invoice
from billing.signals import billing_run_finalized
from payments.signals import payments_settled
from payments.tasks import invoice_notices_task, payment_receipts_task

NOTICE_CHUNK = 500


@receiver(billing_run_finalized)
def tell_clients_of_their_bills(sender: Any, run_id: int, **kwargs: Any) -> None:
    """The bill SMS and emails, in chunks (a run can issue 100,000 invoices)."""
    ids = list(Invoice.objects.filter(run_id=run_id, status=Invoice.Status.ISSUED).order_by("id")
               .values_list("id", flat=True))
    for start in range(0, len(ids), NOTICE_CHUNK):
        invoice_notices_task.delay(ids[start:start + NOTICE_CHUNK])


@receiver(payments_settled)
def send_their_receipts(sender: Any, payment_ids: list[int], **kwargs: Any) -> None:
    """After the payments' transaction commits, the receipt SMS and emails are composed (one
    task for a set booked together)."""
    if payment_ids:
        ids = list(payment_ids)
        transaction.on_commit(lambda: payment_receipts_task.delay(ids))


