"""The tenant-aware Celery app.

tenant-schemas-celery stamps every message with the schema it was sent from and switches the
worker into that schema before the task body runs. Tasks here refuse to run in the public
schema unless they say they are platform tasks (`platform_task=True`): a message that lost
its schema header must fail loudly rather than touch shared tables.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import kombu.exceptions
import redis.exceptions
from celery import signals
from celery.utils import uuid
from tenant_schemas_celery.app import CeleryApp as TenantAwareCeleryApp
from tenant_schemas_celery.task import TenantTask, headers_with_schema

from majismart.breaker import Breaker
from majismart.queues import GROUPS
from majismart.tenancy import connection

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


log = logging.getLogger(__name__)
# What a publish raises when the broker is down, refuses connections or does not answer in time.
BROKER_UNREACHABLE = (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError,
                      redis.exceptions.TimeoutError, OSError)
broker = Breaker("Celery broker")


class MajiCelery(TenantAwareCeleryApp):
    """Sending never fails nor hangs because the broker is away: a message it does not take
    within a few seconds (settings: publish timeouts), or while it failed moments ago in this
    process, is handed to `keep_unsent`: the tenants app registers its outbox there
    (tenants.outbox.keep, kept in PostgreSQL and sent later by `tenants.tasks.send_unsent`), so
    the kernel names no app. Beat's entries, `.delay()` in requests and in tasks all come here."""

    # keep_unsent(schema=, name=, task_id=, args=, kwargs=, options=, error=) -> kept or not.
    keep_unsent: Callable[..., bool] | None = None

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        keep_if_unsent = options.pop("keep_if_unsent", True)
        if options.get("connection") is not None or not keep_if_unsent:
            # An explicit connection (a test's own broker) or the outbox sending: failures are theirs.
            return super().send_task(name, args, kwargs, **options)
        options["task_id"] = options.get("task_id") or uuid()
        options["headers"] = headers_with_schema(options.get("headers") or {})
        error: BaseException | None = None
        if not broker.is_open:
            try:
                result = super().send_task(name, args, kwargs, **options)
            except BROKER_UNREACHABLE as exc:
                broker.trip(exc)
                error = exc
            else:
                broker.succeeded()
                return result
        if self.keep_unsent is None:  # nowhere to keep it: the caller sees the broker's failure
            if error is not None:
                raise error
            return super().send_task(name, args, kwargs, **options)
        if self.keep_unsent(schema=options["headers"]["_schema_name"], name=name, task_id=options["task_id"], args=args,
                kwargs=kwargs, options=options, error=error):
            log.info("Task %s kept to be sent when the broker is back", name)
        return self.AsyncResult(options["task_id"])


app = MajiCelery("majismart", task_cls=MajiTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
# The apps' tasks modules (fan_out and send_unsent are the tenants app's).
app.autodiscover_tasks()

# Every queue's worker proves it is taking messages: beat sends this to each group's queue
# (PERIODIC_TASKS below, `queue_group`), and the worker that takes it writes the time to Redis;
# /healthz reports each queue's last heartbeat and calls a stale one degraded.
HEARTBEAT_EVERY = 30  # seconds between heartbeats
HEARTBEAT_STALE_AFTER = 3 * HEARTBEAT_EVERY + 30  # three missed, and a little slack for beat

# Periodic jobs, declared in code and written to django-celery-beat's tables by
# `manage.py setup_periodic_tasks`: a `crontab`, or `every` N seconds. Provider jobs go through
# `fan_out`, which runs in public and re-sends the job once per active provider, inside that
# provider's schema; the two every-few-seconds jobs are platform tasks that look at every
# provider in one statement and only send work where there is some.
PERIODIC_TASKS: dict[str, dict[str, Any]] = {
    "Send task messages kept while the broker was unreachable (platform)": {
        "task": "tenants.tasks.send_unsent",
        "every": 10,
    },
    **{f"Worker heartbeat: {group} queue (platform)": {
        "task": "majismart.celery.worker_heartbeat", "args": [group], "queue_group": group, "every": HEARTBEAT_EVERY,
    } for group in GROUPS},
    "Restart stalled drains of M-Pesa confirmations, sweep callbacks left waiting (platform)": {
        "task": "payments.tasks.watch_callbacks",
        "every": 10,
    },
    "Clear expired sessions (every provider)": {
        "task": "tenants.tasks.fan_out",
        "args": ["accounts.tasks.clear_expired_sessions"],
        "crontab": {"minute": "15", "hour": "3"},
    },
    "Process callbacks left in the inbox (every provider)": {
        "task": "tenants.tasks.fan_out",
        "args": ["payments.tasks.sweep_inbox"],
        "crontab": {"minute": "*/5"},
    },
    "Ask M-Pesa about STK pushes left without an answer (every provider)": {
        "task": "tenants.tasks.fan_out",
        "args": ["payments.tasks.query_stale_stk"],
        "crontab": {"minute": "*"},
    },
    "Send messages whose time has come: quiet hours over, retries due (every provider)": {
        "task": "tenants.tasks.fan_out",
        "args": ["notifications.tasks.sweep_messages"],
        "crontab": {"minute": "*"},
    },
    "Answer incoming SMS left unanswered while the broker was down (every provider)": {
        "task": "tenants.tasks.fan_out",
        "args": ["selfservice.tasks.sweep_inbound_sms"],
        "crontab": {"minute": "*"},
    },
    "Delete USSD sessions and incoming SMS past the callbacks' retention (every provider)": {
        "task": "tenants.tasks.fan_out",
        "args": ["selfservice.tasks.purge_selfservice"],
        "crontab": {"minute": "40", "hour": "2"},
    },
    "Send reminders, overdue and disconnection notices from each provider's hour (every provider)": {
        "task": "tenants.tasks.fan_out",
        "args": ["payments.tasks.send_reminders"],
        "crontab": {"minute": "5"},
    },
    "Break payment plans missed past grace, order disconnections whose date has come (every provider)": {
        "task": "tenants.tasks.fan_out",
        "args": ["arrears.tasks.daily"],
        "crontab": {"minute": "20", "hour": "7"},
    },
    "Delete abandoned upload previews (every provider)": {
        "task": "tenants.tasks.fan_out",
        "args": ["meters.tasks.purge_stale_uploads"],
        "crontab": {"minute": "45", "hour": "*"},
    },
    "Remind owners of privacy requests due soon or overdue (every provider)": {
        "task": "tenants.tasks.fan_out",
        "args": ["privacy.tasks.requests_remind_task"],
        "crontab": {"minute": "0", "hour": "6"},
    },
    "Bring the report figures up to date where something changed (every provider)": {
        "task": "tenants.tasks.fan_out",
        "args": ["reports.tasks.refresh_if_stale"],
        "crontab": {"minute": "*/10"},
    },
    "Apply the retention policy: purge what is past retention (every provider)": {
        "task": "tenants.tasks.fan_out",
        "args": ["privacy.tasks.retention_apply_task"],
        "crontab": {"minute": "30", "hour": "2"},
    },
}



@signals.worker_init.connect
def _lower_priority(**kwargs: Any) -> None:
    """settings.WORKER_NICENESS, taken by the worker's main process before its pool starts, so
    every pool process has it too."""
    from django.conf import settings

    if settings.WORKER_NICENESS:
        os.nice(settings.WORKER_NICENESS)
        logging.getLogger(__name__).info("worker running at niceness %d", os.nice(0))


def heartbeat_key(queue: str) -> str:
    return f"majismart:heartbeat:{queue}"


@app.task(platform_task=True, ignore_result=True)
def worker_heartbeat(group: str) -> None:
    """Sent to `group`'s queue: whichever worker took it is alive and consuming that queue."""
    import time

    import redis
    from django.conf import settings

    from majismart.queues import queue_name

    if settings.REDIS_URL:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2).set(
            heartbeat_key(queue_name(group)), str(time.time()), ex=24 * 3600)
