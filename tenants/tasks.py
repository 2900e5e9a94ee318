"""The platform's own tasks: sending a job to every provider, sending task messages kept while the
broker was away, and the notice of a new policy version."""

from __future__ import annotations

from celery import shared_task
from django_tenants.utils import tenant_context

from majismart.celery import app


@shared_task(platform_task=True)
def fan_out(task_name: str, *args: object) -> list[str]:
    """Send `task_name` once per active provider, each message stamped with its schema.

    A task that says when it has work (`due_sql`: a condition on one schema's tables, `{q}`
    standing for the quoted schema) is sent only to the providers where that holds, found in
    one statement over every schema: beat's every-minute jobs then cost a message per provider
    with something due, not one per provider (at a thousand idle providers, next to none)."""
    from django.conf import settings

    from majismart.sql import across_schemas
    from tenants.selectors import active_providers

    task = app.tasks[task_name]
    due_sql = getattr(task, "due_sql", None)
    providers = list(active_providers())
    if due_sql:
        # `{settings.NAME}` in it is a setting's value, read now (so a changed setting counts).
        probe = "SELECT 1 WHERE " + due_sql.replace("{q}", "{{q}}").format(settings=settings)
        due = {row[0] for row in across_schemas(probe, schemas=[provider.schema_name for provider in providers])}
        providers = [provider for provider in providers if provider.schema_name in due]
    sent = []
    for provider in providers:
        with tenant_context(provider):
            # apply_async stamps the schema header (and runs in-process when eager).
            task.apply_async(args=list(args))
        sent.append(provider.schema_name)
    return sent


@shared_task(platform_task=True, ignore_result=True)
def send_unsent() -> int:
    """Messages kept while the broker was unreachable (tenants.outbox), sent now that it is back."""
    from tenants.outbox import send_unsent as send_kept

    return send_kept(lambda name, args, kwargs, **options: app.send_task(name, args, kwargs, keep_if_unsent=False,
                                                                         **options))


@shared_task(acks_late=True, time_limit=600, soft_time_limit=540)
def policy_notice_task(version_id: int) -> int:
    """In one provider's schema (sent by fan_out): email its active users about a newly
    published policy version. Once per user and version (the message's dedup key)."""
    from tenants.notices import policy_notices

    return policy_notices(version_id)
