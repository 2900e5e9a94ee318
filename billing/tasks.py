from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def billing_run_finalized_task(run_id: int) -> dict[str, object]:
    """Tell whoever listens (PDFs, notifications) that a run's invoices were issued."""
    from billing.models import BillingRun
    from billing.signals import billing_run_finalized

    run = BillingRun.objects.filter(pk=run_id, status=BillingRun.Status.FINALIZED).first()
    if run is None:
        return {"run": run_id, "handlers": 0}
    responses = billing_run_finalized.send(sender=BillingRun, run_id=run_id, invoice_count=run.invoice_count)
    return {"run": run_id, "invoices": run.invoice_count, "handlers": len(responses)}
