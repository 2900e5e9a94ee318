"""The platform's own tasks: sending a job to every provider, sending task messages kept while the
broker was away, and the notice of a new policy version."""

from __future__ import annotations

from celery import shared_task
from django_tenants.utils import tenant_context

from majismart.celery import app


@shared_task(platform_task=True)
def fan_out(task_name: str, *args: object) -> list[str]:
    """Send `task_name` once per active provider, each message stamped with its schema."""
    from tenants.selectors import active_providers

    sent = []
    for provider in active_providers():
        with tenant_context(provider):
            # apply_async stamps the schema header (and runs in-process when eager).
            app.tasks[task_name].apply_async(args=list(args))
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
