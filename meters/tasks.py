from __future__ import annotations

from celery import shared_task

from meters.services import reading_import_run


@shared_task(acks_late=True)
def import_readings_task(job_id: int) -> str:
    return reading_import_run(job_id)
