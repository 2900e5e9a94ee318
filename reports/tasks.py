from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, time_limit=1800, soft_time_limit=1700)
def refresh_figures() -> float | None:
    """In one provider's schema: rebuild the report figures (queued by a page that found them out
    of date, and every few minutes by beat where something changed)."""
    from reports.refresh import figures_refresh

    state = figures_refresh(wait=False)
    return state.seconds if state else None


@shared_task
def refresh_if_stale() -> float | None:
    """Beat's job, per provider: refresh only where something changed since the last refresh."""
    from reports.models import Refresh, Stale
    from reports.refresh import figures_refresh

    if Stale.objects.exists() or not Refresh.objects.filter(refreshed_at__isnull=False).exists():
        state = figures_refresh(wait=False)
        return state.seconds if state else None
    return None
