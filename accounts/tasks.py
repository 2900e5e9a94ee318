from __future__ import annotations

from celery import shared_task
from django.contrib.sessions.models import Session
from django.utils import timezone

from majismart.tenancy import connection


@shared_task
def clear_expired_sessions() -> dict[str, object]:
    """Sessions live in every provider's schema, so each one is swept in its own schema."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return {"schema": connection.schema_name, "deleted": deleted}
