"""Retention: each provider's policy (privacy.models.RetentionPolicy) applied to its schema.

One function per rule, each returning what it removed (or, on a dry run, what it would remove)
by table. Every rule is a few set-based statements in one transaction, whatever the provider's
size; nothing outside the rules is ever removed, and a rule run twice removes nothing more.

- raw payment callbacks: `callback_days` after they were processed (never one still waiting);
- the message log: `notification_months` (never a message still queued or being sent);
- the audit trail and log-in logs: `audit_months`;
- data exports: the file goes when the download link expires;
- billing and water-usage records: `billing_years` after the end of the record's period or date,
  keeping the ledger balanced (a "balance brought forward" entry replaces what goes) and every
  reference intact (see `purge_billing`);
- closed clients: pseudonymised once none of their billing records is left.

The billing purge is the single exception to the ledger being append-only (billing.models
LedgerEntry): it deletes entries in SQL, below the ORM guard, and only those past retention
(billing.retention.ledger_carry_forward). Each app's part of it, the SQL that reads and deletes
its tables, is in that app's `retention` module.
"""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.services import audit, audit_purge_before
from arrears import retention as arrears_retention
from billing import retention as billing_retention
from billing.retention import BROUGHT_FORWARD_REFERENCE, BROUGHT_FORWARD_TEXT
from clients import retention as clients_retention
from clients.models import Client
from fieldwork import retention as fieldwork_retention
from majismart.sql import Step, queryset_delete, steps_run
from majismart.storage import files_delete_on_commit
from majismart.tenancy import connection
from meters import retention as meters_retention
from notifications.models import DeliveryReport, Message
from payments import retention as payments_retention
from payments.inbox import UNDECRYPTABLE
from payments.models import CallbackInbox, Payment
from privacy.models import DataExport, RetentionPolicy, RetentionRun

log = logging.getLogger(__name__)

ACTOR = "retention"
POLICY_FIELDS = ("billing_years", "callback_days", "audit_months", "notification_months", "export_days")

# What a run reports, in the order pages and the command show it.
RULE_LABELS: dict[str, str] = {
    "callbacks": "Raw payment callbacks",
    "messages": "Messages (SMS and email log)",
    "delivery_reports": "Delivery reports",
    "audit_events": "Audit log entries",
    "login_logs": "Log-in records",
    "exports": "Expired data exports",
    "invoices": "Invoices",
    "invoice_lines": "Invoice lines",
    "credit_notes": "Credit notes",
    "ledger_entries": "Ledger entries",
    "balances_brought_forward": "Balances brought forward",
    "billing_runs": "Billing runs",
    "payments": "Payments",
    "allocations": "Payment allocations",
    "payment_requests": "Payment requests",
    "readings": "Meter readings",
    "work_orders": "Finished work orders",
    "service_requests": "Closed service requests",
    "payment_plans": "Ended payment plans",
    "disconnections": "Finished disconnections",
    "clients_pseudonymised": "Closed clients pseudonymised",
}


# --- cutoffs ----------------------------------------------------------------------------------
def months_before(moment: datetime, months: int) -> datetime:
    """The same time `months` calendar months earlier (the 31st becomes the month's last day)."""
    year, month0 = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day)


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class Cutoffs:
    """Everything older than these goes; a record exactly at its cutoff stays."""

    now: datetime
    callbacks: datetime
    notifications: datetime
    audit: datetime
    # Billing is counted in whole days (Nairobi): dates before `billing_day`, timestamps before
    # its midnight (`billing`), so a payment and its ledger entry (booked on the payment's day)
    # always fall on the same side.
    billing_day: date
    billing: datetime

    @classmethod
    def of(cls, policy: RetentionPolicy, now: datetime) -> Cutoffs:
        nairobi = timezone.get_default_timezone()
        day = years_before(timezone.localdate(now, nairobi), policy.billing_years)
        return cls(now=now, callbacks=now - timedelta(days=policy.callback_days),
                   notifications=months_before(now, policy.notification_months),
                   audit=months_before(now, policy.audit_months),
                   billing_day=day, billing=timezone.make_aware(datetime.combine(day, dtime.min), nairobi))

    @property
    def billing_period(self) -> str:
        """A period's last day is before the cutoff day exactly when the period is an earlier
        month than the cutoff day's: invoices of periods before this one are past retention."""
        return f"{self.billing_day:%Y-%m}"

    def as_json(self) -> dict[str, str]:
        return {"callbacks": self.callbacks.isoformat(), "notifications": self.notifications.isoformat(),
                "audit": self.audit.isoformat(), "billing": self.billing_day.isoformat(),
                "exports": self.now.isoformat()}


@dataclass
class Context:
    cutoffs: Cutoffs
    dry_run: bool
    # Closed clients left without billing records by the billing purge (pseudonymised after it).
    closed_clients: list[int] = field(default_factory=list)


@contextmanager
def _rule_transaction() -> Iterator[None]:
    with transaction.atomic():
        # One application of the rules at a time per provider (the daily job, the command, a
        # preview): two purges computing the same due set would each write the balance brought
        # forward, doubling it.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"majismart.retention.{connection.schema_name}"])
        yield


# --- the rules --------------------------------------------------------------------------------
def purge_callbacks(ctx: Context) -> dict[str, int]:
    """Raw callbacks processed (or found duplicate or unreadable) before the cutoff. One still
    waiting to be processed is never removed, nor one waiting for its key to be configured again
    (payments.inbox.UNDECRYPTABLE: money not booked yet); payments keep working without theirs."""
    cutoff = ctx.cutoffs.callbacks
    due = (CallbackInbox.objects.exclude(status=CallbackInbox.Status.RECEIVED)
           .exclude(status=CallbackInbox.Status.INVALID, note=UNDECRYPTABLE)
           .filter(Q(processed__lt=cutoff) | Q(processed__isnull=True, received__lt=cutoff)))
    if ctx.dry_run:
        return {"callbacks": due.count()}
    Payment.objects.filter(inbox__in=due).update(inbox=None)
    return {"callbacks": queryset_delete(due)}


def purge_notifications(ctx: Context) -> dict[str, int]:
    """The message log and delivery reports before the cutoff; never a message not yet sent."""
    cutoff = ctx.cutoffs.notifications
    messages = Message.objects.filter(created__lt=cutoff).exclude(
        status__in=[Message.Status.QUEUED, Message.Status.SENDING])
    reports = DeliveryReport.objects.filter(received__lt=cutoff)
    if ctx.dry_run:
        return {"messages": messages.count(), "delivery_reports": reports.count()}
    gone_reports = queryset_delete(reports)
    DeliveryReport.objects.filter(message__in=messages).update(message=None)
    return {"messages": queryset_delete(messages), "delivery_reports": gone_reports}


def purge_audit(ctx: Context) -> dict[str, int]:
    """The audit trail (through accounts, which alone may lift its append-only guard) and the
    log-in records (django-axes, per schema) before the cutoff."""
    cutoff = ctx.cutoffs.audit
    logs = [AccessLog.objects.filter(attempt_time__lt=cutoff), AccessFailureLog.objects.filter(attempt_time__lt=cutoff),
            AccessAttempt.objects.filter(attempt_time__lt=cutoff)]
    if ctx.dry_run:
        return {"audit_events": AuditEvent.objects.filter(created__lt=cutoff).count(),
                "login_logs": sum(qs.count() for qs in logs)}
    # Counted per log table: an attempt's expiry row goes with it (cascade) but is not a record.
    gone = sum(qs.delete()[1].get(qs.model._meta.label, 0) for qs in logs)
    return {"audit_events": audit_purge_before(cutoff=cutoff), "login_logs": gone}


def expire_exports(ctx: Context) -> dict[str, int]:
    """Exports whose link has expired: the file is deleted (after commit) and the row marked."""
    due = DataExport.objects.filter(expires_at__lt=ctx.cutoffs.now).exclude(status=DataExport.Status.EXPIRED)
    if ctx.dry_run:
        return {"exports": due.count()}
    names = list(due.exclude(path="").values_list("path", flat=True))
    done = due.update(status=DataExport.Status.EXPIRED, path="")
    files_delete_on_commit(names)
    return {"exports": done}


# The billing purge decides in temporary tables (one statement each), each app selecting from its
# own tables (its `retention` module; billing.retention describes the tables they share), counts
# them, and on a real run deletes in dependency order. %(day)s is the cutoff day, %(moment)s its
# midnight, %(month)s its `YYYY-MM`.
_BILLING_SELECT: list[Step] = [
    billing_retention.HELD,
    billing_retention.INVOICES,
    payments_retention.INVOICES_PAID_SINCE,
    payments_retention.PAYMENTS,
    billing_retention.PAYMENTS_BOOKED_SINCE,
    billing_retention.LEDGER,
    payments_retention.LEDGER_OF_KEPT_PAYMENTS,
    *billing_retention.LEDGER_NARROW,
    billing_retention.FORWARD,
    billing_retention.CREDIT_NOTES,
    payments_retention.ALLOCATIONS,
    billing_retention.LINES,
    billing_retention.RUNS,
    payments_retention.REQUESTS,
    meters_retention.READINGS,
    fieldwork_retention.WORK_ORDERS,
    arrears_retention.PLANS,
    *arrears_retention.DISCONNECTIONS,
    fieldwork_retention.REQUESTS,
    # Closed clients with no billing record left once the above goes: their identity is replaced
    # by a pseudonym (not twice).
    clients_retention.CLOSED,
    Step("DELETE FROM ret_closed c WHERE EXISTS (SELECT 1 FROM privacy_erasurerecord x WHERE x.client_id = c.id)"),
    billing_retention.CLOSED_WITH_RECORDS,
    payments_retention.CLOSED_WITH_RECORDS,
]
_BILLING_COUNTS = {
    "invoices": "ret_invoices", "invoice_lines": "ret_lines", "credit_notes": "ret_credit_notes",
    "ledger_entries": "ret_ledger", "balances_brought_forward": "ret_forward", "billing_runs": "ret_runs",
    "payments": "ret_payments", "allocations": "ret_allocations", "payment_requests": "ret_requests",
    "readings": "ret_readings", "work_orders": "ret_work_orders", "service_requests": "ret_service_requests",
    "payment_plans": "ret_plans", "disconnections": "ret_disconnections",
}


def purge_billing(ctx: Context) -> dict[str, int]:
    """Billing and water-usage records past `billing_years`, counted from the end of the
    record's period (invoices) or its date (ledger, credit notes, payments, readings).

    Every reference stays intact: an invoice goes with its lines, credit notes, ledger entries
    and allocations, and only when none of them (nor a payment allocated to it) is still in
    retention; a payment goes only when all its allocations go. Each client's balance is
    unchanged: the ledger entries that go are replaced by one entry of their sum, booked on the
    cutoff day ("Balance brought forward at …"). Closed clients left with no record are noted
    for pseudonymisation (`ctx.closed_clients`)."""
    c = ctx.cutoffs
    params: dict[str, Any] = {"day": c.billing_day, "moment": c.billing, "month": c.billing_period, "bf": BROUGHT_FORWARD_REFERENCE,
              "bf_text": BROUGHT_FORWARD_TEXT.format(day=c.billing_day.isoformat()), "now": timezone.now()}
    with connection.cursor() as cursor:
        steps_run(cursor, _BILLING_SELECT, params)
        counts = {}
        for key, table in _BILLING_COUNTS.items():
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            counts[key] = cursor.fetchone()[0]
        cursor.execute("SELECT id FROM ret_closed ORDER BY id")
        ctx.closed_clients = [row[0] for row in cursor.fetchall()]
        if ctx.dry_run:
            return counts
        files = (billing_retention.invoice_files(cursor) + meters_retention.reading_files(cursor)
                 + fieldwork_retention.photo_files(cursor))
        # What refers to a row goes (or lets go of it) before the row.
        steps_run(cursor, payments_retention.DELETE, params)
        billing_retention.billing_purge(cursor, params)
        steps_run(cursor, arrears_retention.DELETE, params)
        steps_run(cursor, fieldwork_retention.DELETE, params)
        steps_run(cursor, meters_retention.DELETE, params)
    files_delete_on_commit(files)
    return counts


def pseudonymise_closed_clients(ctx: Context) -> dict[str, int]:
    """Closed clients the billing purge left without records: identity replaced by a pseudonym
    (privacy.erasure), each in its own transaction."""
    if ctx.dry_run:
        return {"clients_pseudonymised": len(ctx.closed_clients)}
    from privacy.erasure import client_pseudonymise
    from privacy.models import ErasureRecord

    done = 0
    for client in Client.objects.filter(pk__in=ctx.closed_clients, status=Client.Status.CLOSED):
        if not ErasureRecord.objects.filter(client_id=client.pk).exists():
            client_pseudonymise(client=client, actor=ACTOR, reason=ErasureRecord.Reason.RETENTION)
            done += 1
    return {"clients_pseudonymised": done}


RULES = [purge_callbacks, purge_notifications, purge_audit, expire_exports, purge_billing]


PREVIEWS_KEPT = timedelta(days=30)


def retention_apply(*, now: datetime | None = None, dry_run: bool = False, actor: object = ACTOR,
                    policy: Any = None) -> RetentionRun:
    """Apply the provider's retention policy in the current schema (or, dry, count what would
    go and remove nothing). Returns the run, with its cutoffs and per-table counts. A dry run
    may be given periods not saved yet (`policy`: any object with the RetentionPolicy fields,
    validated by the caller) to see what they would remove; a real run always applies the
    saved policy."""
    if policy is not None and not dry_run:
        raise ValueError("only a dry run takes periods that are not saved")
    now = now or timezone.now()
    started = time.monotonic()
    policy = policy or RetentionPolicy.load()
    ctx = Context(cutoffs=Cutoffs.of(policy, now), dry_run=dry_run)
    run = RetentionRun.objects.create(started=now, dry_run=dry_run, cutoffs=ctx.cutoffs.as_json(), counts={})
    counts: dict[str, int] = {}
    for rule in RULES:
        with _rule_transaction():
            counts.update(rule(ctx))
    counts.update(pseudonymise_closed_clients(ctx))
    run.counts = {key: counts.get(key, 0) for key in RULE_LABELS}
    run.finished = now + timedelta(seconds=time.monotonic() - started)
    run.save(update_fields=["counts", "finished"])
    if not dry_run:
        audit(actor=actor, action="privacy.retention_applied", object_repr=f"retention run {run.pk}",
              cutoffs=run.cutoffs, counts={k: v for k, v in run.counts.items() if v})
        # Previews are worth keeping a while (what an owner looked at), not for ever.
        RetentionRun.objects.filter(dry_run=True, started__lt=now - PREVIEWS_KEPT).delete()
    log.info("retention %s in %s: %s", "previewed" if dry_run else "applied", connection.schema_name,
             {k: v for k, v in run.counts.items() if v})
    return run


def retention_policy_update(*, actor: object, **values: int) -> RetentionPolicy:
    """Change the provider's retention periods, within the legal bounds the model sets."""
    with transaction.atomic():
        RetentionPolicy.load()
        # Two owners saving at once: the second sees the first's values as "before".
        policy = RetentionPolicy.objects.select_for_update().get(pk=1)
        before = {name: getattr(policy, name) for name in POLICY_FIELDS}
        for name in POLICY_FIELDS:
            if name in values:
                setattr(policy, name, values[name])
        policy.full_clean()
        after = {name: getattr(policy, name) for name in POLICY_FIELDS}
        if after != before:
            policy.save()
            audit(actor=actor, action="privacy.retention.settings_changed", object_repr=str(policy), before=before, after=after)
    return policy

