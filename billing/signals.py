"""The seam after a billing run is finalised.

`billing_run_finalized` is sent from a Celery task (in the provider's schema) once the run's
transaction has committed, with `run_id` (its invoices are `Invoice.objects.filter(run_id=...)`,
to be read in chunks: a run can issue 100,000). Invoice PDFs and client notifications connect
their handlers here (issue 6); billing knows nothing of them.
"""

from __future__ import annotations

from django.dispatch import Signal

billing_run_finalized = Signal()  # kwargs: run_id: int, invoice_count: int


def run_finalized_queue(run_id: int) -> None:
    from billing.tasks import billing_run_finalized_task

    billing_run_finalized_task.delay(run_id)
