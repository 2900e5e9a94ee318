from __future__ import annotations

from celery import shared_task

from meters.services import reading_import_run


# Imports of 100,000 rows take seconds, but a busy database can make it minutes.
@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1900)
def import_readings_task(job_id: int) -> str:
    return reading_import_run(job_id)


@shared_task
def purge_stale_uploads() -> int:
    """Previewed but never confirmed uploads hold personal data in clear: keep them a day at most."""
    from majismart.uploads import purge_older_than

    return purge_older_than(hours=24)
