"""Celery tasks of the privacy app: thin, take ids, run in the schema the message carries."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def export_build_task(export_id: int) -> str:
    from privacy.exports import export_build

    return export_build(export_id=export_id).status


@shared_task(acks_late=False, ignore_result=True)
def registration_code_task(client_id: int, channel: str, code: str) -> None:
    from privacy.registration import registration_code_send

    registration_code_send(client_id=client_id, channel=channel, code=code)


@shared_task
def requests_remind_task() -> int:
    """Daily, per provider: tell the owners about privacy requests due soon or overdue."""
    from privacy.services import requests_remind

    return requests_remind()


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def retention_apply_task(schema_name: str | None = None, dry_run: bool = False) -> dict[str, int]:
    """Daily, per provider (fanned out by beat): apply its retention policy (privacy.retention)."""
    from django_tenants.utils import schema_context

    from majismart.tenancy import connection
    from privacy.retention import retention_apply

    with schema_context(schema_name or connection.schema_name):
        return retention_apply(dry_run=dry_run).counts
