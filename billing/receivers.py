"""Billing's reactions to the register and to its own runs (connected in BillingConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from billing.models import Invoice
from billing.services import opening_balances_post
from billing.signals import billing_run_finalized
from clients.signals import clients_registered

# Invoice ids per PDF task: a few seconds of rendering each, and a run of 100,000 bills spreads
# over as many workers as there are.
PDF_TASK_CHUNK = 200


@receiver(clients_registered)
def open_ledgers(sender: Any, clients: list, actor: object = None, **kwargs: Any) -> None:
    opening_balances_post(clients, actor=actor)


@receiver(billing_run_finalized)
def queue_invoice_pdfs(sender: Any, run_id: int, **kwargs: Any) -> int:
    """Queue the run's invoice PDFs, PDF_TASK_CHUNK ids per task; the ids are read in chunks
    too. Runs in the provider's schema (billing_run_finalized_task), so each message carries it."""
    from billing.tasks import invoices_render_task

    ids = (Invoice.objects.filter(run_id=run_id, status=Invoice.Status.ISSUED).order_by("pk")
           .values_list("pk", flat=True))
    chunk: list[int] = []
    queued = 0
    for pk in ids.iterator(chunk_size=5000):
        chunk.append(pk)
        if len(chunk) == PDF_TASK_CHUNK:
            invoices_render_task.delay(chunk)
            chunk, queued = [], queued + 1
    if chunk:
        invoices_render_task.delay(chunk)
        queued += 1
    return queued
