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


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300)
def invoices_render_task(invoice_ids: list[int]) -> dict[str, int]:
    """Render and store one chunk of a run's invoice PDFs. Idempotent: bills already stored are
    skipped, so a redelivered or repeated message renders nothing twice."""
    from billing.documents import invoices_render

    return {"invoices": len(invoice_ids), "rendered": invoices_render(invoice_ids)}
