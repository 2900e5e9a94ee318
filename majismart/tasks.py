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
    """Messages kept while the broker was unreachable (majismart.outbox), sent now that it is back."""
    from majismart.outbox import send_unsent as send_kept

    return send_kept(lambda name, args, kwargs, **options: app.send_task(name, args, kwargs, keep_if_unsent=False,
                                                                         **options))
