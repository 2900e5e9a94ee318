"""Which Celery queue each task goes to, so one kind of work never waits behind another: a
backlog of invoice PDFs or a retention purge must not hold up an M-Pesa callback.

Five groups, each a queue named `<CELERY_QUEUE_PREFIX><group>` (no prefix in production; a
test's worker gets a prefix of its own so it never takes another run's messages). The worker
consumes every group's queue and the default one unless told otherwise (settings:
CELERY_TASK_QUEUES), so `celery -A majismart worker` alone runs everything (`make run`), and
`-Q payments` makes a worker of one group (docker-compose runs one per group).

Every task of ours is named in TASK_GROUPS: a task left out would go to the default queue, and
tests/majismart/test_queues.py fails for it rather than let it fall through by accident.
"""

from __future__ import annotations

from typing import Any

PAYMENTS, MESSAGES, DOCUMENTS, REPORTS, MAINTENANCE = "payments", "messages", "documents", "reports", "maintenance"
GROUPS = (PAYMENTS, MESSAGES, DOCUMENTS, REPORTS, MAINTENANCE)

TASK_GROUPS: dict[str, str] = {
    # Money in: callbacks, their drains and sweeps, STK queries and prompts, what a payment settles.
    "payments.tasks.process_callback": PAYMENTS,
    "payments.tasks.drain_confirmations": PAYMENTS,
    "payments.tasks.sweep_inbox": PAYMENTS,
    "payments.tasks.watch_callbacks": PAYMENTS,
    "payments.tasks.query_stale_stk": PAYMENTS,
    "selfservice.tasks.ussd_pay": PAYMENTS,
    "arrears.tasks.payments_settled_task": PAYMENTS,
    # What people are told: SMS and email, in and out.
    "notifications.tasks.send_messages_task": MESSAGES,
    "notifications.tasks.sweep_messages": MESSAGES,
    "payments.tasks.invoice_notices_task": MESSAGES,
    "payments.tasks.payment_receipts_task": MESSAGES,
    "payments.tasks.send_reminders": MESSAGES,
    "clients.tasks.broadcast_prepare_task": MESSAGES,
    "privacy.tasks.registration_code_task": MESSAGES,
    "tenants.tasks.policy_notice_task": MESSAGES,
    "selfservice.tasks.process_inbound_sms": MESSAGES,
    "selfservice.tasks.sweep_inbound_sms": MESSAGES,
    # Documents: invoice PDFs, and the step after a run that queues them.
    "billing.tasks.invoices_render_task": DOCUMENTS,
    "billing.tasks.billing_run_finalized_task": DOCUMENTS,
    # Reports, exports and bulk imports: long, and nobody waits on them at a till.
    "reports.tasks.refresh_figures": REPORTS,
    "reports.tasks.refresh_if_stale": REPORTS,
    "privacy.tasks.export_build_task": REPORTS,
    "meters.tasks.import_readings_task": REPORTS,
    # Housekeeping: fan-outs, the outbox, retention, sweeps of stale rows.
    "tenants.tasks.fan_out": MAINTENANCE,
    "tenants.tasks.send_unsent": MAINTENANCE,
    "accounts.tasks.clear_expired_sessions": MAINTENANCE,
    "selfservice.tasks.purge_selfservice": MAINTENANCE,
    "arrears.tasks.daily": MAINTENANCE,
    "meters.tasks.purge_stale_uploads": MAINTENANCE,
    "privacy.tasks.requests_remind_task": MAINTENANCE,
    "privacy.tasks.retention_apply_task": MAINTENANCE,
    "majismart.celery.worker_heartbeat": MAINTENANCE,  # beat sends it to every queue explicitly
}


def queue_prefix() -> str:
    """This process's prefix (settings: CELERY_QUEUE_PREFIX; a test's worker context changes it
    for the test process too, so what the test sends reaches its worker)."""
    from majismart.celery import app

    return str(app.conf.get("queue_prefix") or "")


def queue_name(group: str, prefix: str | None = None) -> str:
    if group not in GROUPS:
        raise ValueError(f"Unknown queue group {group!r}: one of {', '.join(GROUPS)}")
    return f"{queue_prefix() if prefix is None else prefix}{group}"


def all_queues(prefix: str | None = None) -> list[str]:
    return [queue_name(group, prefix) for group in GROUPS]


def route(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any) -> dict[str, str] | None:
    """Celery router (settings: CELERY_TASK_ROUTES): the queue of the task's group. An explicit
    `queue=` when sending still wins (Celery merges the caller's options over the route)."""
    group = TASK_GROUPS.get(name)
    return {"queue": queue_name(group)} if group else None
