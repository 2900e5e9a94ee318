"""The tenant-aware Celery app.

tenant-schemas-celery stamps every message with the schema it was sent from and switches the
worker into that schema before the task body runs. Tasks here refuse to run in the public
schema unless they say they are platform tasks (`platform_task=True`): a message that lost
its schema header must fail loudly rather than touch shared tables.
"""

from __future__ import annotations

import os
from typing import Any

from django.db import connection
from tenant_schemas_celery.app import CeleryApp as TenantAwareCeleryApp
from tenant_schemas_celery.task import TenantTask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "majismart.settings.base")

PUBLIC_SCHEMA = "public"


class MajiTask(TenantTask):
    platform_task = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.platform_task and connection.schema_name == PUBLIC_SCHEMA:
            raise RuntimeError(
                f"{self.name} is a provider task and was about to run in the public schema "
                "(the message carried no provider schema)."
            )
        return super().__call__(*args, **kwargs)


app = TenantAwareCeleryApp("majismart", task_cls=MajiTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic jobs, declared in code and written to django-celery-beat's tables by
# `manage.py setup_periodic_tasks`. Provider jobs go through `fan_out`, which runs in public
# and re-sends the job once per active provider, inside that provider's schema.
PERIODIC_TASKS: dict[str, dict[str, Any]] = {
    "Clear expired sessions (every provider)": {
        "task": "majismart.tasks.fan_out",
        "args": ["accounts.tasks.clear_expired_sessions"],
        "crontab": {"minute": "15", "hour": "3"},
    },
    "Process callbacks left in the inbox (every provider)": {
        "task": "majismart.tasks.fan_out",
        "args": ["payments.tasks.sweep_inbox"],
        "crontab": {"minute": "*/5"},
    },
    "Ask M-Pesa about STK pushes left without an answer (every provider)": {
        "task": "majismart.tasks.fan_out",
        "args": ["payments.tasks.query_stale_stk"],
        "crontab": {"minute": "*"},
    },
    "Send messages whose time has come: quiet hours over, retries due (every provider)": {
        "task": "majismart.tasks.fan_out",
        "args": ["notifications.tasks.sweep_messages"],
        "crontab": {"minute": "*"},
    },
    "Send reminders, overdue and disconnection notices from each provider's hour (every provider)": {
        "task": "majismart.tasks.fan_out",
        "args": ["payments.tasks.send_reminders"],
        "crontab": {"minute": "5"},
    },
    "Delete abandoned upload previews (every provider)": {
        "task": "majismart.tasks.fan_out",
        "args": ["meters.tasks.purge_stale_uploads"],
        "crontab": {"minute": "45", "hour": "*"},
    },
    "Remind owners of privacy requests due soon or overdue (every provider)": {
        "task": "majismart.tasks.fan_out",
        "args": ["privacy.tasks.requests_remind_task"],
        "crontab": {"minute": "0", "hour": "6"},
    },
    "Apply the retention policy: purge what is past retention (every provider)": {
        "task": "majismart.tasks.fan_out",
        "args": ["privacy.tasks.retention_apply_task"],
        "crontab": {"minute": "30", "hour": "2"},
    },
}
