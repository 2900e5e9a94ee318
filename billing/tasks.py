from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def billing_run_finalized_task(run_id: int) -> dict[str, object]:
    """Tell whoever listens (PDFs, notifications) that a run's invoices were issued."""
    from billing.models import BillingRun, Invoice
    from billing.signals import billing_run_finalized

    run = BillingRun.objects.filter(pk=run_id, status=BillingRun.Status.FINALIZED).first()
    if run is None:
        return {"run": run_id, "handlers": 0}
    invoice_ids = list(Invoice.objects.filter(run_id=run_id).values_list("id", flat=True))
    responses = billing_run_finalized.send(sender=BillingRun, run_id=run_id, invoice_ids=invoice_ids)
    return {"run": run_id, "invoices": len(invoice_ids), "handlers": len(responses)}
