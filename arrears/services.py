"""Writes of arrears: the only place plans, disconnections and write-offs change."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import DecimalField, OuterRef, Subquery, Sum
from django.utils import timezone

from accounts.services import actor_user, audit
from arrears.models import ArrearsSettings, Disconnection, Instalment, PaymentPlan
from arrears.notices import tell
from arrears.selectors import UNDER_WAY, under_the_rule
from billing.fees import fee_charge
from billing.models import Fee
from billing.selectors import client_balance
from billing.services import disconnected_billing_set
from billing.write_offs import write_off_post
from clients.models import Client
from clients.services import clients_lock
from fieldwork.models import WorkOrder
from fieldwork.services import work_order_cancel, work_order_open
from majismart.badinput import MSG_NUL
from majismart.money import kes
from payments.models import Payment
from payments.notices import day

CENT = Decimal("0.01")
MAX_INSTALMENTS = 60

MSG_CLIENT = "Choose a client of this provider."
MSG_OWES_NOTHING = "This client owes nothing: there is no balance to put on a plan."
MSG_INSTALMENTS = f"Enter a whole number of instalments from 2 to {MAX_INSTALMENTS}."
MSG_FIRST_DUE = "Enter the first due date as YYYY-MM-DD."
MSG_FIRST_DUE_PAST = "The first due date cannot be in the past."
MSG_ON_PLAN = "This client already has an active payment plan."
MSG_REQUESTED = "This client has already asked for a payment plan; approve or decline it."
MSG_DOWN_PAYMENT = "Enter a down payment in KES from 0 to less than the balance, e.g. 2000.00."
MSG_NOTE = "Keep the note to 1,000 characters."
MSG_REASON = "Give the reason (up to 300 characters)."
MSG_NOT_REQUESTED = "Only a plan the client asked for can be approved or declined."
MSG_NOT_ACTIVE = "The client is not active: it is disconnected or closed already."
MSG_EXEMPT = "This client is exempt from disconnection."
MSG_UNDER_WAY = "A disconnection of this client is already under way."
MSG_NOT_UNDER_RULE = ("This client is not up for disconnection under the provider's rule (it owes too little, "
                      "not for long enough, or is on a payment plan in good standing).")
MSG_NOT_CLOSED = "Only a closed account's bad debt can be written off."
MSG_NOTHING_OWED = "This account owes nothing: there is nothing to write off."


# --- cleaning ------------------------------------------------------------------------------------
def _text(raw: object, top: int, message: str, errors: dict[str, list[str]], name: str, *,
          required: bool = False) -> str:
    text = "" if raw is None else str(raw).strip()
    if "\x00" in text:
        errors[name] = [MSG_NUL]
    elif len(text) > top or (required and not text):
        errors[name] = [message]
    return text


def clean_plan(data: Any, *, client_required: bool = True) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(plan_create's arguments, {field: [messages]}) from a form or a JSON body:
    client (id), instalments (2..60), first_due (YYYY-MM-DD, today or later), down_payment (optional)."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    if client_required:
        raw = data.get("client")
        client = None
        if isinstance(raw, int) and not isinstance(raw, bool) or isinstance(raw, str) and raw.strip().isdigit():
            client = Client.objects.filter(pk=int(raw)).first()
        if client is None:
            errors["client"] = [MSG_CLIENT]
        out["client"] = client
    raw_n = data.get("instalments")
    n = raw_n if isinstance(raw_n, int) and not isinstance(raw_n, bool) else (
        int(raw_n.strip()) if isinstance(raw_n, str) and raw_n.strip().isdigit() else None)
    if n is None or not 2 <= n <= MAX_INSTALMENTS:
        errors["instalments"] = [MSG_INSTALMENTS]
    out["instalments"] = n
    raw_due = data.get("first_due")
    try:
        first_due = date.fromisoformat(str(raw_due).strip()) if isinstance(raw_due, str) else None
    except ValueError:
        first_due = None
    if first_due is None:
        errors["first_due"] = [MSG_FIRST_DUE]
    elif first_due < timezone.localdate():
        errors["first_due"] = [MSG_FIRST_DUE_PAST]
    out["first_due"] = first_due
    raw_down = data.get("down_payment")
    down = Decimal("0.00")
    if raw_down not in (None, ""):
        try:
            down = Decimal(str(raw_down).replace(",", "").strip())
        except InvalidOperation:
            down = Decimal(-1)
        if isinstance(raw_down, bool) or not down.is_finite() or down < 0 or down != down.quantize(CENT) \
                or down >= Decimal("1e10"):
            errors["down_payment"] = [MSG_DOWN_PAYMENT]
    out["down_payment"] = down
    if "note" in data:
        out["note"] = _text(data.get("note"), 1000, MSG_NOTE, errors, "note")
    return out, errors


# --- plans -----------------------------------------------------------------------------------------
def add_months(start: date, months: int) -> date:
    """The same day `months` later (the month's last day when it has no such day: 31 Jan → 28 Feb)."""
    year, month = divmod(start.month - 1 + months, 12)
    year, month = start.year + year, month + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def split(total: Decimal, count: int) -> list[Decimal]:
    """`total` in `count` amounts: each total / count rounded down to the cent, the last one the
    remainder (10,000.00 in 3: 3,333.33, 3,333.33, 3,333.34)."""
    each = (total / count).quantize(CENT, rounding=ROUND_DOWN)
    return [each] * (count - 1) + [total - each * (count - 1)]


def _schedule(plan: PaymentPlan, today: date) -> None:
    plan.instalments.all().delete()
    rows = []
    if plan.down_payment > 0:
        rows.append(Instalment(plan=plan, number=0, due_date=today, amount=plan.down_payment))
    for i, amount in enumerate(split(plan.total - plan.down_payment, plan.instalment_count)):
        rows.append(Instalment(plan=plan, number=i + 1, due_date=add_months(plan.first_due, i), amount=amount))
    Instalment.objects.bulk_create(rows)


def _plan_checks(client: Client, *, down_payment: Decimal, exclude_plan: int | None = None) -> Decimal:
    """The client's balance, if a plan may be made for it now (else ValidationError)."""
    balance = client_balance(client.pk)
    if balance <= 0:
        raise ValidationError({"client": [MSG_OWES_NOTHING]})
    others = PaymentPlan.objects.filter(client=client)
    if exclude_plan is not None:
        others = others.exclude(pk=exclude_plan)
    if others.filter(status=PaymentPlan.Status.ACTIVE).exists():
        raise ValidationError({"client": [MSG_ON_PLAN]})
    if others.filter(status=PaymentPlan.Status.REQUESTED).exists():
        raise ValidationError({"client": [MSG_REQUESTED]})
    if down_payment >= balance:
        raise ValidationError({"down_payment": [MSG_DOWN_PAYMENT]})
    return balance


def _plan_told(plan: PaymentPlan) -> None:
    first = plan.instalments.filter(number=1).first()
    tell(plan.client, "plan_active", f"plan:{plan.pk}", {
        "amount": kes(plan.total), "count": str(plan.instalment_count), "date": plan.first_due,
        "instalment": kes(first.amount if first else 0)})


@transaction.atomic
def plan_create(*, client: Client, instalments: int, first_due: date, down_payment: Decimal = Decimal("0.00"),
                actor: object, note: str = "") -> PaymentPlan:
    """A plan for the client's whole balance, active now: payments recorded from now count."""
    clients_lock([client.pk])  # two plans made at once: the second sees the first
    balance = _plan_checks(client, down_payment=down_payment)
    now = timezone.now()
    try:
        with transaction.atomic():
            plan = PaymentPlan.objects.create(client=client, total=balance, down_payment=down_payment,
                                              instalment_count=instalments, first_due=first_due, started=now,
                                              note=note, created_by=actor_user(actor), decided_by=actor_user(actor))
    except IntegrityError:  # one open plan per client (the constraint): made meanwhile
        raise ValidationError({"client": [MSG_ON_PLAN]}) from None
    _schedule(plan, timezone.localdate())
    audit(actor=actor, action="payment_plan.created", object_repr=f"plan {plan.pk} for {client.account_number}",
          target=client, total=str(balance), instalments=instalments, first_due=first_due.isoformat(),
          down_payment=str(down_payment))
    _plan_told(plan)
    disconnections_settle([client.pk])
    reconnections_check([client.pk])
    return plan


@transaction.atomic
def plan_request(*, client: Client, instalments: int, first_due: date, note: str = "",
                 down_payment: Decimal = Decimal("0.00"), actor: object) -> PaymentPlan:
    """The client asks for a plan (portal): staff approve or decline it."""
    clients_lock([client.pk])
    balance = _plan_checks(client, down_payment=down_payment)
    try:
        with transaction.atomic():
            plan = PaymentPlan.objects.create(client=client, status=PaymentPlan.Status.REQUESTED, total=balance,
                                              down_payment=down_payment, instalment_count=instalments,
                                              first_due=first_due, note=note, created_by=actor_user(actor))
    except IntegrityError:
        raise ValidationError({"client": [MSG_REQUESTED]}) from None
    _schedule(plan, timezone.localdate())
    audit(actor=actor, action="payment_plan.requested", object_repr=f"plan {plan.pk} for {client.account_number}",
          target=client, total=str(balance), instalments=instalments, first_due=first_due.isoformat())
    return plan


@transaction.atomic
def plan_approve(*, plan: PaymentPlan, actor: object) -> PaymentPlan:
    """A requested plan made active, for the balance as it is now (it may have changed since)."""
    clients_lock([plan.client_id])
    plan = PaymentPlan.objects.select_for_update().select_related("client").get(pk=plan.pk)
    if plan.status != PaymentPlan.Status.REQUESTED:
        raise ValidationError({"detail": [MSG_NOT_REQUESTED]})
    if plan.first_due < timezone.localdate():
        raise ValidationError({"first_due": [MSG_FIRST_DUE_PAST]})
    plan.total = _plan_checks(plan.client, down_payment=plan.down_payment, exclude_plan=plan.pk)
    plan.status, plan.started, plan.decided_by = PaymentPlan.Status.ACTIVE, timezone.now(), actor_user(actor)
    plan.save(update_fields=["total", "status", "started", "decided_by"])
    _schedule(plan, timezone.localdate())
    audit(actor=actor, action="payment_plan.approved", object_repr=f"plan {plan.pk} for {plan.client.account_number}",
          target=plan.client, total=str(plan.total))
    _plan_told(plan)
    disconnections_settle([plan.client_id])
    reconnections_check([plan.client_id])
    return plan


@transaction.atomic
def plan_decline(*, plan: PaymentPlan, reason: object, actor: object) -> PaymentPlan:
    errors: dict[str, list[str]] = {}
    why = _text(reason, 300, MSG_REASON, errors, "reason", required=True)
    if errors:
        raise ValidationError(errors)
    plan = PaymentPlan.objects.select_for_update().select_related("client").get(pk=plan.pk)
    if plan.status != PaymentPlan.Status.REQUESTED:
        raise ValidationError({"detail": [MSG_NOT_REQUESTED]})
    plan.status, plan.decline_reason, plan.ended = PaymentPlan.Status.DECLINED, why, timezone.now()
    plan.decided_by = actor_user(actor)
    plan.save(update_fields=["status", "decline_reason", "ended", "decided_by"])
    audit(actor=actor, action="payment_plan.declined", object_repr=f"plan {plan.pk} for {plan.client.account_number}",
          target=plan.client, reason=why)
    tell(plan.client, "plan_declined", f"plan:{plan.pk}", {"reason": why}, email=False)
    return plan


def _paid_since_start() -> Subquery:
    """What the plan's client paid in payments recorded after the plan started (a payment
    recorded before was in the balance that became the total); reversed payments do not count."""
    return Subquery(Payment.objects.filter(client_id=OuterRef("client_id"), status=Payment.Status.MATCHED,
                                           created__gte=OuterRef("started")).order_by().values("client_id")
                    .annotate(s=Sum("amount")).values("s")[:1],
                    output_field=DecimalField(max_digits=12, decimal_places=2))


@transaction.atomic
def plans_refresh(client_ids: Iterable[int] | None = None, *, actor: object = "system") -> int:
    """Count the payments towards the active plans (of these clients; all when None), oldest
    instalment first, and complete the plans fully paid. A few queries for any number of plans:
    the plans with what was paid (one), their instalments (one), the changed ones written back."""
    plans = PaymentPlan.objects.filter(status=PaymentPlan.Status.ACTIVE)
    if client_ids is not None:
        plans = plans.filter(client_id__in=list(client_ids))
    # A plan's payments are counted by one refresh at a time (payments settling together).
    rows = list(plans.select_for_update(of=("self",)).annotate(paid_now=_paid_since_start())
                .select_related("client").prefetch_related("instalments"))
    changed: list[Instalment] = []
    completed = []
    for plan in rows:
        left = plan.paid_now or Decimal("0.00")
        for inst in plan.instalments.all():
            paid = min(left, inst.amount)
            left -= paid
            status = Instalment.Status.PAID if paid == inst.amount else (
                Instalment.Status.MISSED if inst.status == Instalment.Status.MISSED else Instalment.Status.DUE)
            if (paid, status) != (inst.paid, inst.status):
                inst.paid, inst.status = paid, status
                changed.append(inst)
        plan.paid = plan.paid_now or Decimal("0.00")
        if all(i.status == Instalment.Status.PAID for i in plan.instalments.all()):
            plan.status, plan.ended = PaymentPlan.Status.COMPLETED, timezone.now()
            completed.append(plan)
    Instalment.objects.bulk_update(changed, ["paid", "status"], batch_size=1000)
    PaymentPlan.objects.bulk_update(rows, ["paid", "status", "ended"], batch_size=1000)
    for plan in completed:
        audit(actor=actor, action="payment_plan.completed", object_repr=f"plan {plan.pk} for {plan.client.account_number}",
              target=plan.client, total=str(plan.total))
    return len(completed)


@transaction.atomic
def plans_break_missed(*, today: date | None = None) -> int:
    """Break the active plans with an instalment still unpaid more than the provider's grace
    days after its due date (payments counted first); the client is told by SMS."""
    today = today or timezone.localdate()
    plans_refresh()
    grace = ArrearsSettings.load().plan_grace_days
    late = (Instalment.objects.filter(plan__status=PaymentPlan.Status.ACTIVE, status=Instalment.Status.DUE,
                                      due_date__lt=today - timedelta(days=grace))
            .select_related("plan__client").order_by("plan_id", "number"))
    broken: dict[int, Instalment] = {}
    for inst in late:
        broken.setdefault(inst.plan_id, inst)
    if not broken:
        return 0
    now = timezone.now()
    Instalment.objects.filter(pk__in=[i.pk for i in broken.values()]).update(status=Instalment.Status.MISSED)
    PaymentPlan.objects.filter(pk__in=list(broken)).update(status=PaymentPlan.Status.BROKEN, ended=now)
    for inst in broken.values():
        client = inst.plan.client
        audit(actor="system", action="payment_plan.broken", object_repr=f"plan {inst.plan_id} for {client.account_number}",
              target=client, instalment=inst.number, due_date=inst.due_date.isoformat())
        tell(client, "plan_broken", f"plan:{inst.plan_id}", {
            "amount": kes(inst.amount - inst.paid), "date": inst.due_date,
            "amount_due": kes(client_balance(client.pk))}, email=False)
    return len(broken)


# --- settings --------------------------------------------------------------------------------------
SETTINGS_FIELDS = ("disconnect_after_days", "disconnect_above", "notice_days", "plan_grace_days")


def clean_settings(data: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for name, top in (("disconnect_after_days", 365), ("notice_days", 60), ("plan_grace_days", 60)):
        raw = str(data.get(name, "")).strip()
        if not raw.isdigit() or int(raw) > top:
            errors[name] = [f"Enter a whole number of days from 0 to {top}."]
        else:
            out[name] = int(raw)
    raw = str(data.get("disconnect_above", "")).replace(",", "").strip()
    try:
        amount = Decimal(raw)
        if not amount.is_finite() or amount < 0 or amount != amount.quantize(CENT) or amount >= Decimal("1e10"):
            raise InvalidOperation
        out["disconnect_above"] = amount
    except InvalidOperation:
        errors["disconnect_above"] = ["Enter an amount in KES, 0 or more, e.g. 1000.00."]
    out["fixed_charges_when_disconnected"] = str(data.get("fixed_charges_when_disconnected", "")).lower() in (
        "on", "true", "1", "yes")
    return out, errors


@transaction.atomic
def settings_update(*, actor: object, fixed_charges_when_disconnected: bool, **values: Any) -> ArrearsSettings:
    """The rule and the plans' grace; what a disconnected client is billed goes to billing's rules."""
    disconnected_billing_set(value=fixed_charges_when_disconnected, actor=actor)
    cfg = ArrearsSettings.load()
    before = {name: str(getattr(cfg, name)) for name in SETTINGS_FIELDS}
    for name in SETTINGS_FIELDS:
        setattr(cfg, name, values[name])
    cfg.save()
    audit(actor=actor, action="arrears.settings_changed", object_repr=str(cfg), before=before,
          after={name: str(getattr(cfg, name)) for name in SETTINGS_FIELDS})
    return cfg


# --- disconnection ---------------------------------------------------------------------------------
@transaction.atomic
def disconnection_start(*, client: Client, actor: object) -> Disconnection:
    """The notice (SMS and email with the date and the pay link); on the date, unless the client
    paid or made a plan meanwhile, a work order for the field staff (disconnections_due)."""
    clients_lock([client.pk])
    client.refresh_from_db(fields=["status", "disconnection_exempt"])
    if client.status != Client.Status.ACTIVE:
        raise ValidationError({"client": [MSG_NOT_ACTIVE]})
    if client.disconnection_exempt:
        raise ValidationError({"client": [MSG_EXEMPT]})
    if Disconnection.objects.filter(client=client, status__in=UNDER_WAY).exists():
        raise ValidationError({"client": [MSG_UNDER_WAY]})
    cfg = ArrearsSettings.load()
    found = under_the_rule(cfg=cfg, clients=Client.objects.filter(pk=client.pk)).first()
    if found is None:
        raise ValidationError({"client": [MSG_NOT_UNDER_RULE]})
    on = timezone.localdate() + timedelta(days=cfg.notice_days)
    item = Disconnection.objects.create(client=client, notice_date=on, balance=found.balance,  # type: ignore[attr-defined]
                                        created_by=actor_user(actor))
    audit(actor=actor, action="disconnection.started", object_repr=f"disconnection {item.pk} of {client.account_number}",
          target=client, notice_date=on.isoformat(), balance=str(item.balance))
    tell(client, "disconnection_scheduled", f"disconnection:{item.pk}", {
        "amount_due": kes(item.balance), "date": on})
    return item


def _instructions(item: Disconnection, kind: str) -> str:
    if kind == "disconnect":
        return (f"Disconnect the supply of account {item.client.account_number}: {kes(item.balance)} overdue, "
                f"notice given for {day(item.notice_date)}. Do not disconnect if the client shows a receipt "
                f"from today.")
    return f"Reconnect the supply of account {item.client.account_number}: the client has paid."


@transaction.atomic
def disconnections_settle(client_ids: Iterable[int]) -> int:
    """Cancel, by themselves, the disconnections under notice (or ordered, not yet carried out)
    of these clients whom the rule no longer puts up: paid (enough) or on a plan in good standing.
    A field order still open is cancelled with it."""
    ids = list(client_ids)
    items = list(Disconnection.objects.select_for_update().filter(client_id__in=ids, status__in=Disconnection.OPEN)
                 .select_related("client"))
    if not items:
        return 0
    still = set(under_the_rule(clients=Client.objects.filter(pk__in=[i.client_id for i in items]))
                .values_list("pk", flat=True))
    cancelled = [i for i in items if i.client_id not in still]
    for item in cancelled:
        item.status, item.cancel_reason = Disconnection.Status.CANCELLED, "Paid or on a payment plan"
        item.save(update_fields=["status", "cancel_reason"])
        if item.disconnect_order_id:
            work_order_cancel(order_id=item.disconnect_order_id, reason=item.cancel_reason)
        audit(actor="system", action="disconnection.cancelled",
              object_repr=f"disconnection {item.pk} of {item.client.account_number}", target=item.client,
              reason=item.cancel_reason)
    return len(cancelled)


def disconnections_due(*, today: date | None = None) -> int:
    """On (or after) each notice's date: a disconnect work order if the client is still under the
    rule, else the disconnection cancelled. One order per disconnection ever (its source)."""
    today = today or timezone.localdate()
    due = list(Disconnection.objects.filter(status=Disconnection.Status.NOTICE, notice_date__lte=today)
               .values_list("client_id", flat=True))
    if not due:
        return 0
    disconnections_settle(due)
    opened = 0
    for item in Disconnection.objects.filter(status=Disconnection.Status.NOTICE, notice_date__lte=today).select_related("client"):
        with transaction.atomic():
            # The daily task and a retry of it: one of them orders, the other sees ORDERED.
            locked = Disconnection.objects.select_for_update().get(pk=item.pk)
            if locked.status != Disconnection.Status.NOTICE:
                continue
            order = work_order_open(client=item.client, kind="disconnect", due_on=today,
                                    source=f"disconnection:{item.pk}", balance=client_balance(item.client_id),
                                    instructions=_instructions(item, "disconnect"), actor=None)
            locked.status, locked.disconnect_order = Disconnection.Status.ORDERED, order
            locked.save(update_fields=["status", "disconnect_order"])
            audit(actor="system", action="disconnection.ordered",
                  object_repr=f"disconnection {item.pk} of {item.client.account_number}", target=item.client,
                  work_order=order.reference)
            opened += 1
    return opened


def _requirement_met(item: Disconnection, balance: Decimal, plan: PaymentPlan | None) -> bool:
    """What reconnection asks: the arrears paid (the balance, reconnection fee included, at 0
    or below), or, on a plan, its down payment plus the reconnection fee paid since it began."""
    if balance <= 0:
        return True
    return plan is not None and plan.paid >= plan.down_payment + item.fee


@transaction.atomic
def reconnections_check(client_ids: Iterable[int]) -> int:
    """Order the reconnection of the disconnected clients (of these) who paid what the rule
    requires; the client is told by SMS. At most one order per disconnection (its source)."""
    items = list(Disconnection.objects.select_for_update().filter(client_id__in=list(client_ids),
                                                                   status=Disconnection.Status.DISCONNECTED)
                 .select_related("client"))
    if not items:
        return 0
    plans = {p.client_id: p for p in PaymentPlan.objects.filter(client_id__in=[i.client_id for i in items],
                                                                  status=PaymentPlan.Status.ACTIVE)}
    ordered = 0
    for item in items:
        balance = client_balance(item.client_id)
        if not _requirement_met(item, balance, plans.get(item.client_id)):
            continue
        order = work_order_open(client=item.client, kind="reconnect", due_on=timezone.localdate(),
                                source=f"reconnection:{item.pk}", balance=balance,
                                instructions=_instructions(item, "reconnect"), actor=None)
        item.status, item.reconnect_order = Disconnection.Status.RECONNECT_ORDERED, order
        item.save(update_fields=["status", "reconnect_order"])
        audit(actor="system", action="reconnection.ordered",
              object_repr=f"disconnection {item.pk} of {item.client.account_number}", target=item.client,
              work_order=order.reference)
        tell(item.client, "reconnection_ordered", f"reconnection:{item.pk}", {}, email=False)
        ordered += 1
    return ordered


def payments_settled(payment_ids: list[int]) -> None:
    """After payments are booked: count them towards plans, cancel the disconnections they
    settle, order the reconnections they complete."""
    client_ids = set(Payment.objects.filter(pk__in=payment_ids, client__isnull=False)
                     .values_list("client_id", flat=True))
    if not client_ids:
        return
    plans_refresh(client_ids)
    disconnections_settle(client_ids)
    reconnections_check(client_ids)


@transaction.atomic
def work_order_finished(order: WorkOrder) -> None:
    """A field order of ours done (or not): the disconnection carried out — the reconnection fee
    charged, so that it is part of what reconnection requires — or the client reconnected."""
    kind, _, raw = (order.source or "").partition(":")
    if kind not in ("disconnection", "reconnection") or not raw.isdigit():
        return
    item = Disconnection.objects.select_for_update().select_related("client").filter(pk=int(raw)).first()
    if item is None:
        return
    done = order.status == WorkOrder.Status.DONE
    if kind == "disconnection" and item.status == Disconnection.Status.ORDERED:
        if not done:
            item.status = Disconnection.Status.NOT_DONE
            item.save(update_fields=["status"])
            return
        item.status, item.disconnected_at = Disconnection.Status.DISCONNECTED, order.done_at or timezone.now()
        # The provider's reconnection fee, when its catalogue has one (a fee of 0 charges nothing).
        fee = Fee.objects.filter(code="reconnection", active=True, amount__gt=0).first()
        if fee is not None:
            item.fee = fee_charge(client=item.client, code=fee.code, note=f"Disconnection {item.pk}", actor="system").amount
        item.save(update_fields=["status", "disconnected_at", "fee"])
        audit(actor="system", action="disconnection.done", object_repr=f"disconnection {item.pk} of {item.client.account_number}",
              target=item.client, work_order=order.reference, fee=str(item.fee))
        reconnections_check([item.client_id])
    elif kind == "reconnection" and item.status == Disconnection.Status.RECONNECT_ORDERED and done:
        item.status, item.reconnected_at = Disconnection.Status.RECONNECTED, order.done_at or timezone.now()
        item.save(update_fields=["status", "reconnected_at"])
        audit(actor="system", action="reconnection.done", object_repr=f"disconnection {item.pk} of {item.client.account_number}",
              target=item.client, work_order=order.reference)


# --- write-off -------------------------------------------------------------------------------------
@transaction.atomic
def write_off(*, client: Client, reason: object, actor: object) -> Any:
    """The owner writes off a closed account's bad debt: a write_off ledger entry bringing its
    balance to 0, with the reason, audited."""
    errors: dict[str, list[str]] = {}
    why = _text(reason, 300, MSG_REASON, errors, "reason", required=True)
    if errors:
        raise ValidationError(errors)
    if client.status != Client.Status.CLOSED:
        raise ValidationError({"client": [MSG_NOT_CLOSED]})
    entry = write_off_post(client=client, reason=why, actor=actor)
    if entry is None:
        raise ValidationError({"client": [MSG_NOTHING_OWED]})
    audit(actor=actor, action="bad_debt.written_off", object_repr=f"{entry.reference} for {client.account_number}",
          target=client, amount=str(-entry.amount), reason=why)
    return entry
