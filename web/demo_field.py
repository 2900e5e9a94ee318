"""The demo's arrears and field work (issue 19), once the year is lived (seed_demo, once per provider).

Made through the services people use, at the time of seeding, then a few moments moved back so
the lists read like a working week (restamp, as web.demo_year does; audit rows keep the real time):
- arrears settings (disconnect above KES 1,000 owed 30 days after the due date, 7 days' notice);
- service levels, and service requests: a fresh one from the portal's client, one overdue and
  nobody on it, a leak assigned to the field officer with its work order open, a meter fault
  visited (work order done, reading taken) and resolved, a billing question answered;
- the client who stopped paying (web.demo_year.ARREARS_CLIENT): a plan made six weeks ago, broken
  by its missed first instalment, then a disconnection notice;
- the client owing most of the others the rule puts up: disconnected by the field officer;
- the next one: a plan in good standing, its down payment paid at the counter;
- two accounts closed while owing: one written off by the owner, one waiting on the write-offs page;
- the exempt school and hospital are made with the register (web.demo.seed_register).
No fees: the provider's fee catalogue is billing's demo; a disconnection with no reconnection
fee in the catalogue charges none.
"""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

ACTOR = "seed_demo"


def _shift_request(request: Any, back: timedelta) -> None:
    """The request as if made `back` earlier (its due time and history with it)."""
    from fieldwork.models import ServiceRequest, ServiceRequestEvent

    ServiceRequest.objects.filter(pk=request.pk).update(created=F("created") - back, due_by=F("due_by") - back)
    ServiceRequestEvent.objects.filter(request=request).update(at=F("at") - back)


def _shift_since(request: Any, since: Any, back: timedelta) -> None:
    """What happened to the request from `since` on (its history, its resolution) `back` earlier."""
    from fieldwork.models import ServiceRequest, ServiceRequestEvent

    ServiceRequest.objects.filter(pk=request.pk, resolved_at__isnull=False).update(resolved_at=F("resolved_at") - back)
    ServiceRequestEvent.objects.filter(request=request, at__gte=since).update(at=F("at") - back)


def _meter_value(order: Any, add: Decimal) -> str:
    from meters.models import Reading

    last = Reading.objects.filter(meter=order.meter).order_by("-read_at", "-id").values_list("value", flat=True).first()
    return str((last if last is not None else order.meter.initial_reading) + add)


def seed_field() -> bool:
    """The current provider's arrears and field-work demo; False when it has some already (or
    no register)."""
    from arrears.models import Disconnection, PaymentPlan
    from clients.models import Client
    from fieldwork.models import ServiceRequest
    from web.demo_year import deliver, sms_answered, tasks_inline

    if ServiceRequest.objects.exists() or PaymentPlan.objects.exists() or Disconnection.objects.exists():
        return False
    if not Client.objects.exists():
        return False
    from notifications.models import Message, NotificationSettings

    before = Message.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    # As in the year (web.demo_year.simulate): what the steps tell the clients is sent at once,
    # not held for the quiet hours of the moment of seeding.
    cfg = NotificationSettings.load()
    quiet, cfg.quiet_hours = cfg.quiet_hours, False
    cfg.save(update_fields=["quiet_hours"])
    try:
        with sms_answered(), tasks_inline():
            _requests()
            _arrears()
            # Sent and delivered as the year's messages were (those a commit sent already stay).
            deliver(list(Message.objects.filter(pk__gt=before).values_list("pk", flat=True)), timezone.now())
    finally:
        NotificationSettings.objects.filter(pk=cfg.pk).update(quiet_hours=quiet)
    return True


def _staff() -> dict[str, Any]:
    from accounts.models import Role, User

    found: dict[str, Any] = {}
    for role in (Role.OWNER, Role.MANAGER, Role.ACCOUNTANT, Role.METER_READER):
        found[role] = (User.objects.filter(role=role, is_active=True, email__endswith=".demo").first()
                       or User.objects.filter(role=role, is_active=True).order_by("pk").first() or ACTOR)
    return found


def _requests() -> None:
    from accounts.models import Role
    from clients.models import Client
    from fieldwork.models import ServiceRequest
    from fieldwork.services import (
        field_settings_update,
        service_request_assign,
        service_request_create,
        service_request_progress,
        service_request_resolve,
        service_request_work_order,
        work_order_assign,
        work_order_complete,
    )
    from web.demo_year import LEAK_CLIENT

    staff = _staff()
    manager, accountant, reader = staff[Role.MANAGER], staff[Role.ACCOUNTANT], staff[Role.METER_READER]
    clients = list(Client.objects.order_by("account_number"))
    pick = lambda i: clients[i % len(clients)]  # noqa: E731 - a small register still has them all
    kind, channel = ServiceRequest.Kind, ServiceRequest.Channel
    with transaction.atomic():
        field_settings_update(actor=staff[Role.OWNER], leak_hours=12, no_water_hours=24, billing_hours=72,
                              meter_hours=72, other_hours=120)
    # A billing question answered at the office four days ago.
    with transaction.atomic():
        asked = service_request_create(
            client=pick(9), kind=kind.BILLING, channel=channel.OFFICE, actor=accountant,
            description="My last bill is higher than usual although we were away upcountry for two weeks. "
                        "Please check the reading.")
    _shift_request(asked, timedelta(days=4, hours=3))
    since = timezone.now()
    with transaction.atomic():
        if not isinstance(accountant, str):
            service_request_assign(request=asked, assignee=accountant, actor=accountant)
        service_request_progress(request=asked, actor=accountant, note="Compared the last three readings with the meter photo.")
        service_request_resolve(request=asked, actor=accountant,
                                resolution="The reading is right: the tank's float valve was running. Explained the "
                                           "tariff bands and advised the client to have the valve fixed.")
    _shift_since(asked, since, timedelta(days=2))
    # A meter fault by SMS six days ago: visited today, the reading taken, resolved.
    with transaction.atomic():
        fault = service_request_create(
            client=pick(5), kind=kind.METER, channel=channel.SMS, actor=manager,
            description="The meter glass is cracked and fogged inside; I cannot read the numbers.")
    _shift_request(fault, timedelta(days=6))
    with transaction.atomic():
        visit = service_request_work_order(request=fault, actor=manager, due_on=timezone.localdate(),
                                           instructions="Check the meter at the kiosk; replace the cover if the "
                                                        "register still turns. Take a reading.")
        work_order_assign(order=visit, assignee=reader if not isinstance(reader, str) else None, actor=manager)
    with transaction.atomic():
        work_order_complete(order=visit, actor=reader, reading=_meter_value(visit, Decimal("4.5")),
                            done_at=timezone.now() - timedelta(hours=2),
                            note="Cover replaced; the register turns and reads clearly.")
        service_request_resolve(request=fault, actor=manager, resolution="Meter cover replaced by the field officer.")
    # A leak reported by phone yesterday: the field officer's, its work order open.
    with transaction.atomic():
        leak = service_request_create(
            client=pick(LEAK_CLIENT), kind=kind.LEAK, channel=channel.PHONE, actor=manager,
            description="Water is gushing from the pipe before the meter, at the gate near the mango tree.")
    _shift_request(leak, timedelta(hours=20))
    with transaction.atomic():
        if not isinstance(reader, str):
            service_request_assign(request=leak, assignee=reader, actor=manager)
        order = service_request_work_order(request=leak, actor=manager, due_on=timezone.localdate(),
                                           instructions="Leak before the meter at the gate: isolate and repair; "
                                                        "read the meter (last month's reading was flagged high).")
        if not isinstance(reader, str):
            work_order_assign(order=order, assignee=reader, actor=manager)
    # No water for two days, by phone: overdue, nobody on it yet.
    with transaction.atomic():
        dry = service_request_create(
            client=pick(11), kind=kind.NO_WATER, channel=channel.PHONE, actor=accountant,
            description="No water in the taps since Saturday evening; the neighbours have water.")
    _shift_request(dry, timedelta(days=2, hours=5))
    # The portal's client, this morning: open.
    portal = clients[0]
    with transaction.atomic():
        service_request_create(client=portal, kind=kind.NO_WATER, channel=channel.PORTAL, actor=portal.user or ACTOR,
                               description="Low pressure in the evenings: the upstairs tank does not fill.")


def _arrears() -> None:
    from accounts.models import Role
    from arrears.models import Disconnection, Instalment, PaymentPlan
    from arrears.selectors import under_the_rule
    from arrears.services import (
        add_months,
        disconnection_start,
        disconnections_due,
        payments_settled,
        plan_create,
        plans_break_missed,
        settings_update,
        work_order_finished,
        write_off,
    )
    from billing.selectors import balance_of_client, client_balance
    from clients.models import Client
    from clients.services import client_update
    from fieldwork.models import WorkOrder
    from fieldwork.services import work_order_assign, work_order_complete
    from payments.demo import cash_at_counter
    from payments.models import Payment
    from web.demo_year import ARREARS_CLIENT

    staff = _staff()
    owner, manager, accountant, reader = (staff[r] for r in (Role.OWNER, Role.MANAGER, Role.ACCOUNTANT,
                                                             Role.METER_READER))
    with transaction.atomic():
        settings_update(actor=owner, disconnect_after_days=30, disconnect_above=Decimal("1000.00"), notice_days=7,
                        plan_grace_days=7, fixed_charges_when_disconnected=False)
    clients = list(Client.objects.order_by("account_number"))
    today, now = timezone.localdate(), timezone.now()
    # The client who stopped paying: a plan six weeks ago, its first instalment missed, broken;
    # then the notice.
    stopped = clients[ARREARS_CLIENT] if len(clients) > ARREARS_CLIENT else None
    if stopped is not None and client_balance(stopped.pk) > 0:
        with transaction.atomic():
            plan = plan_create(client=stopped, instalments=6, first_due=today, actor=manager,
                               note="Asked at the office for time to pay after losing casual work.")
            back = timedelta(days=42)
            # `started` stays: payments recorded after it count, and the year's were recorded while seeding.
            PaymentPlan.objects.filter(pk=plan.pk).update(created=F("created") - back,
                                                          first_due=today - timedelta(days=35))
            for inst in Instalment.objects.filter(plan=plan):
                Instalment.objects.filter(pk=inst.pk).update(due_date=add_months(today - timedelta(days=35),
                                                                                 inst.number - 1))
        with transaction.atomic():
            plans_break_missed(today=today)
        if under_the_rule(clients=Client.objects.filter(pk=stopped.pk)).exists():
            with transaction.atomic():
                disconnection_start(client=stopped, actor=manager)
    others = [c for c in under_the_rule().order_by("-balance", "account_number") if c.pk != getattr(stopped, "pk", None)]
    # The one owing most: notice nine days ago, ordered on its date, disconnected this morning.
    if others:
        cut = others[0]
        with transaction.atomic():
            item = disconnection_start(client=cut, actor=manager)
            Disconnection.objects.filter(pk=item.pk).update(created=F("created") - timedelta(days=9),
                                                            notice_date=today - timedelta(days=2))
        with transaction.atomic():
            disconnections_due(today=today)
        item.refresh_from_db()
        order = item.disconnect_order
        if order is not None:
            WorkOrder.objects.filter(pk=order.pk).update(created=F("created") - timedelta(days=2),
                                                         due_on=today - timedelta(days=2))
            with transaction.atomic():
                if not isinstance(reader, str):
                    work_order_assign(order=order, assignee=reader, actor=manager)
                done = work_order_complete(order=order, actor=reader, reading=_meter_value(order, Decimal("1.2")),
                                           done_at=now - timedelta(hours=3),
                                           note="Valve locked and sealed at the meter; the client was told at the door.")
            # What the order's signal does after the commit, now (a second time changes nothing).
            work_order_finished(done)
    # Another owing (the rule's next, else the one owing most): a plan in good standing, a fifth
    # down, paid at the counter.
    taken = {getattr(stopped, "pk", None), *(c.pk for c in others[:1])}
    owing = [c for c in others[1:]] + list(
        Client.objects.filter(status=Client.Status.ACTIVE, disconnection_exempt=False)
        .exclude(pk__in=[pk for pk in taken if pk] + [clients[0].pk])
        .annotate(balance=balance_of_client()).filter(balance__gt=500).order_by("-balance", "account_number")[:1])
    if owing:
        kept = owing[0]
        balance = client_balance(kept.pk)
        down = Decimal(math.ceil(balance / 5))
        with transaction.atomic():
            plan_create(client=kept, instalments=4, first_due=today + timedelta(days=21), down_payment=down,
                        actor=accountant, note="Agreed at the counter: a fifth now, the rest over four months.")
        with transaction.atomic():
            cash_at_counter(client=kept, amount=down, at=timezone.now(), receipt=f"CASH-PLAN-{kept.account_number[-4:]}",
                            actor=accountant)
        # Counted now, as the payments' task counts them after the commit (again: no change).
        payments_settled(list(Payment.objects.filter(client=kept, receipt__startswith="CASH-PLAN-")
                              .values_list("pk", flat=True)))
    # Two accounts closed while owing (the tenants moved away): one written off by the owner, the
    # other waiting for the owner's decision on the write-offs page.
    used = {pk for pk in taken if pk} | {clients[0].pk} | ({owing[0].pk} if owing else set())
    gone = list(Client.objects.filter(status=Client.Status.ACTIVE, disconnection_exempt=False)
                .exclude(pk__in=used).annotate(balance=balance_of_client()).filter(balance__gt=0)
                .order_by("-account_number")[:2])
    for n, leaving in enumerate(gone):
        with transaction.atomic():
            closed = client_update(client=leaving, actor=manager, status=Client.Status.CLOSED)
            if n == 1:
                write_off(client=closed, actor=owner,
                          reason="Tenant moved away without a forwarding address; not worth pursuing.")
