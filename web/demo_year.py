"""The demo's year, lived in time order (seed_demo, once per provider).

Every month of the last twelve complete ones: the meters are read near the month's end; the
morning after it, the month is billed by the billing run (the dashboard's own service, with its
invoice numbering), and the bill SMS goes out; the reminders job runs every morning (reminders
before the due date, overdue and disconnection notices after); the clients pay, each their way, as
the payment paths record it (M-Pesa paybill through the C2B confirmation's processing, cash
through the cash desk's service), and each receipt SMS goes out. So each bill's "amount due",
each SMS and each statement line says what the account was at that moment, and the bill PDF,
the statement, the invoice page and the portal agree (tests/web/test_demo_consistency.py).

Who pays how (clients by account number):
- most pay the whole balance by M-Pesa within 12 days; every fifth pays cash at the counter;
- every fourth pays late (after the due date, before the next bill);
- every sixth, from the third, pays about half (its arrears grow and draw penalties);
- ARREARS_CLIENT stops paying for the last ARREARS_MONTHS months;
- one paybill payment names an account that does not exist: it waits in reconciliation.

Time. Each step happens at its own moment, passed to the services explicitly: readings carry
read_at, payments paid_at (the confirmation's TransTime), the billing run `at=` (its issue day,
due dates and numbering year), SMS sending `now=` and the delivery report `now=`. Nothing fakes
the process clock (seed_demo runs in production images, where time-machine is not installed,
and a patched clock would leak into any thread running beside it). Of the columns stamped with
the moment a row is written, those people read (a message's time, a callback's) are moved to
their step's moment at the end (restamp); the others (audit log, `created`) keep the real time
of seeding.

SMS go through the notifications path (notify, send_messages, delivery_report_receive) and its
HTTP client to Africa's Talking's answer given in this process for the seeding (sms_answered:
every number accepted), never to the network. Not the development stand-in (devkit/): seed_demo
runs in the production image, which does not hold it.
Each day runs in one transaction and sends its own messages before it commits; what its commit
queues (receipts and bill notices, already made) runs inline then (tasks_inline). The bill PDFs
are queued for a worker at the end (with no worker, each is drawn on its first download).
"""

from __future__ import annotations

import calendar
import contextlib
import json
import math
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from notifications.text import sms_size

NAIROBI = ZoneInfo("Africa/Nairobi")
MONTHS = 12
ARREARS_CLIENT = 6
ARREARS_MONTHS = 5
LEAK_CLIENT = 4
SMS_MONTHS = 3  # the provider switched its SMS on three months ago
ACTOR = "seed_demo"


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NAIROBI)


def periods(today: date, months: int = MONTHS) -> list[tuple[str, date, date]]:
    """The last `months` complete calendar months before `today`: (code, first day, last day)."""
    year, month = today.year, today.month
    out = []
    for _ in range(months):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        out.append((f"{year:04d}-{month:02d}", date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])))
    return list(reversed(out))


def first_day(today: date, months: int = MONTHS) -> date:
    return periods(today, months)[0][1]


DEMO_SMS_PRICE = Decimal("0.80")  # KES a part, as the demo providers' cost estimates say


class _SandboxAnswer(BaseHTTPRequestHandler):
    """Africa's Talking's answer to a send (shared/reference/payments-apis.md §2), for the demo:
    HTTP 201, every number "Success" (101) with a message id, its parts and their cost."""

    def do_POST(self) -> None:  # noqa: N802 - http.server calls do_<METHOD>
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        parts = sms_size(form.get("message", [""])[0]).segments
        recipients = [{"statusCode": 101, "number": number, "status": "Success", "messageParts": parts,
                       "cost": f"KES {DEMO_SMS_PRICE * parts:.4f}", "messageId": f"ATXid_demo{uuid.uuid4().hex}"}
                      for number in form.get("to", [""])[0].split(",") if number]
        body = json.dumps({"SMSMessageData": {"Message": f"Sent to {len(recipients)}/{len(recipients)}",
                                              "Recipients": recipients}}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        """Quiet: the year sends thousands."""


@contextlib.contextmanager
def sms_answered() -> Iterator[None]:
    """Africa's Talking's sandbox answered on loopback by this process while the year is seeded (no
    delivery reports from it: the year's reports are replayed with their times, see deliver)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SandboxAnswer)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    kept = settings.AFRICASTALKING_URLS
    settings.AFRICASTALKING_URLS = {**kept, "sandbox": f"http://127.0.0.1:{server.server_address[1]}"}
    try:
        yield
    finally:
        settings.AFRICASTALKING_URLS = kept
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def tasks_inline() -> Iterator[None]:
    """Celery tasks run in this process while the year is seeded: what a day's commit queues (the
    bill PDFs, receipts and bill notices) runs then, with the provider as it was that day (SMS
    not yet switched on), not later in a worker when it would text the whole year's bills."""
    from majismart.celery import app

    kept = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = kept


def deliver(message_ids: list[int], at: datetime) -> None:
    """Send these queued SMS at `at`, then take Africa's Talking's "Success" report for each a
    minute later, as the delivery-report endpoint does."""
    from notifications.models import Channel, Message
    from notifications.services import delivery_report_receive, send_messages

    if not message_ids:
        return
    send_messages(message_ids, now=at)
    for provider_id, number in Message.objects.filter(
            pk__in=message_ids, channel=Channel.SMS, status=Message.Status.SENT).values_list(
            "provider_message_id", "recipient"):
        fields = {"id": provider_id, "status": "Success", "phoneNumber": number, "networkCode": "63902"}
        delivery_report_receive(fields=fields, raw=urllib.parse.urlencode(fields), now=at + timedelta(minutes=1))


@dataclass
class Day:
    """What happens on one day, in this order: readings, the billing run, reminders, payments."""

    readings: list[int] = field(default_factory=list)  # months whose readings are taken
    bill: tuple[str, datetime] | None = None
    sms_from: bool = False  # the provider switches its SMS on this morning
    remind: datetime | None = None  # the hourly reminders job's run once the reminder hour is here
    payments: list[tuple[datetime, int, int]] = field(default_factory=list)  # (when, client index, month)
    unmatched: datetime | None = None


class Year:
    def __init__(self, today: date) -> None:
        from accounts.models import Role, User
        from clients.models import Client
        from meters.models import Meter

        self.today, self.now = today, timezone.now()
        # The manager runs billing; the accountant takes cash at the counter (seed_demo's staff).
        staff = {role: User.objects.filter(role=role, is_active=True, email__endswith=".demo").first()
                 for role in (Role.MANAGER, Role.ACCOUNTANT)}
        self.biller, self.cashier = staff[Role.MANAGER] or ACTOR, staff[Role.ACCOUNTANT] or ACTOR
        self.clients = list(Client.objects.filter(status=Client.Status.ACTIVE).order_by("account_number"))
        self.meters = {m.client_id: m for m in Meter.objects.filter(client__in=self.clients)}
        self.values = {cid: m.initial_reading for cid, m in self.meters.items()}
        # Each zone's bulk meter, read on the round's day: the demo's non-revenue water.
        self.bulk: dict[int, Meter] = {
            m.zone_id: m for m in Meter.objects.filter(kind=Meter.Kind.BULK, status=Meter.Status.ACTIVE,
                                                       zone__isnull=False).select_related("zone") if m.zone_id}
        self.bulk_values = {zid: m.initial_reading for zid, m in self.bulk.items()}
        self.days: dict[date, Day] = {}
        self.months = periods(today)

    def day(self, at: datetime) -> Day | None:
        return self.days.setdefault(at.astimezone(NAIROBI).date(), Day()) if at <= self.now else None

    def plan(self) -> None:
        from billing.models import BillingSettings

        due_days = BillingSettings.load().due_days
        for k, (code, _first, last) in enumerate(self.months):
            if d := self.day(_at(last - timedelta(days=4), 9)):
                d.readings.append(k)
            issued = last + timedelta(days=1)
            if d := self.day(_at(issued, 8)):
                d.bill = (code, _at(issued, 8))
                d.sms_from = k == len(self.months) - SMS_MONTHS
            for i in range(len(self.clients)):
                when = self.payday(i, k, issued, due_days)
                if when is not None and (d := self.day(when)):
                    d.payments.append((when, i, k))
        # Reminders, due and overdue notices: the hourly job, at the provider's reminder hour, every
        # day since SMS was switched on.
        from notifications.models import NotificationSettings

        hour = NotificationSettings.load().reminder_hour
        day = self.months[len(self.months) - SMS_MONTHS][2] + timedelta(days=1)
        while (d := self.day(_at(day, hour, 30))) is not None:
            d.remind = _at(day, hour, 30)
            day += timedelta(days=1)
        # One paybill payment to an account number that does not exist, in the latest month it can.
        for _code, _first, last in reversed(self.months):
            when = _at(last + timedelta(days=2), 10, 14)
            if d := self.day(when):
                d.unmatched = when
                break

    @staticmethod
    def payday(i: int, k: int, issued: date, due_days: int) -> datetime | None:
        if i == ARREARS_CLIENT and k >= MONTHS - ARREARS_MONTHS:
            return None
        if i % 4 == 3:  # late: after the due date, before the next bill
            day = issued + timedelta(days=due_days + 3 + (i + k) % 6)
        elif i == 0:  # the portal's client: about a week after the bill
            day = issued + timedelta(days=8)
        else:
            day = issued + timedelta(days=1 + (i * 7 + k * 3) % 12)
        return _at(day, 7 + (i * 5 + k) % 12, (i * 17 + k * 11) % 60)

    def run(self) -> None:
        self.plan()
        for when in sorted(self.days):
            d = self.days[when]
            with transaction.atomic():
                for k in d.readings:
                    self.readings(k)
                if d.sms_from:
                    from notifications.demo import seed_notifications

                    seed_notifications(register=False)
                if d.bill:
                    self.bill(*d.bill)
                if d.remind:
                    self.remind(d.remind)
                if d.payments or d.unmatched:
                    self.pay(sorted(d.payments), d.unmatched)

    # --- the steps ---------------------------------------------------------------------------
    def readings(self, k: int) -> None:
        from meters.models import Reading
        from meters.services import readings_record

        last = self.months[k][2]
        rows = []
        zone_use: dict[int, Decimal] = {}
        for m_index, client in enumerate(self.clients):
            meter = self.meters.get(client.pk)
            if meter is None:
                continue
            used = Decimal(6 + (m_index * 13 + k * 7) % 18) + Decimal(m_index % 3) / 4  # 6–23 m³ a month
            if m_index == LEAK_CLIENT and k == MONTHS - 1:
                used *= 5  # a leak: flagged, waiting for review (billed on an estimate until accepted)
            self.values[client.pk] += used
            if client.zone_id is not None:
                zone_use[client.zone_id] = zone_use.get(client.zone_id, Decimal(0)) + used
            moment = _at(last - timedelta(days=4), 9, m_index)
            rows.append({"meter": meter.serial, "value": str(self.values[client.pk]), "read_at": moment.isoformat()})
        rows += self.bulk_rows(zone_use, _at(last - timedelta(days=4), 8))
        readings_record(rows, source=Reading.Source.CSV, want_ids=False)

    def bulk_rows(self, zone_use: dict[int, Decimal], at: datetime) -> list[dict[str, str]]:
        """The zones' bulk meters, read on the morning of the round: what the zone's clients
        used and 20–35% more that never reached a bill (web.demo.BULK_INPUT)."""
        from web.demo import BULK_INPUT

        rows = []
        for zone_id, meter in self.bulk.items():
            factor = BULK_INPUT.get(meter.zone.code if meter.zone else "", Decimal("1.25"))
            self.bulk_values[zone_id] += (zone_use.get(zone_id, Decimal(0)) * factor).quantize(Decimal("0.001"))
            rows.append({"meter": meter.serial, "value": str(self.bulk_values[zone_id]), "read_at": at.isoformat()})
        return rows

    def bill(self, period: str, at: datetime) -> None:
        from billing.models import Invoice
        from billing.runs import billing_run_finalize, billing_run_start
        from payments.notices import invoice_notices

        run, _ = billing_run_start(period=period, actor=self.biller, at=at)
        billing_run_finalize(run=run, actor=self.biller, at=at)
        if self.sms_on():
                self.notify(lambda: invoice_notices(list(Invoice.objects.filter(run=run).values_list("pk", flat=True))),
                        at + timedelta(minutes=5))

    def remind(self, at: datetime) -> None:
        from payments.notices import reminders_send

        self.notify(lambda: reminders_send(now=at), at + timedelta(minutes=1))

    def pay(self, payments: list[tuple[datetime, int, int]], unmatched: datetime | None) -> None:
        """The day's payments: cash as the desk records it; paybill payments as Safaricom's
        confirmations arrive (stored by the endpoint's statement) and are drained in one batch."""
        from payments.demo import c2b_stored, cash_at_counter, drain
        from payments.models import Payment
        from payments.notices import balances, payment_receipts

        owed = balances(self.clients[i].pk for _, i, _ in payments)
        receipts: list[tuple[str, str]] = []
        for when, i, k in payments:
            client = self.clients[i]
            due = owed.get(client.pk) or Decimal(0)
            if due <= 0:
                continue
            # M-Pesa and cash move whole shillings: the balance rounded up, or about half of it.
            amount = Decimal(math.ceil(due / 2 if i % 6 == 2 else due))
            if i % 5 == 4:
                receipt = f"CASH-{k:02d}{i:03d}{client.account_number[-3:]}"
                cash_at_counter(client=client, amount=amount, at=when, receipt=receipt, actor=self.cashier)
                receipts.append((Payment.Method.CASH, receipt))
            else:
                receipt = f"SD{k:02d}{i:03d}{'ABCDEFGHJK'[k % 10]}{'MNPQRSTUVW'[i % 10]}X"
                c2b_stored(receipt=receipt, amount=amount, at=when, account=client.account_number,
                           phone=client.phone, name=client.full_name)
                receipts.append((Payment.Method.MPESA, receipt))
        if unmatched is not None:
            account = self.clients[3].account_number if len(self.clients) > 3 else "ACC"
            c2b_stored(receipt="SDUNKNOWN1", amount=Decimal("1500.00"), at=unmatched, account=f"{account[:-1]}X9",
                       phone="+254700123456", name="Peter Otieno")
        drain()
        if not receipts or not self.sms_on():
            return
        wanted = Q()
        for method, receipt in receipts:
            wanted |= Q(method=method, receipt=receipt)
        paid = list(Payment.objects.filter(wanted).values_list("pk", flat=True))
        last = max(when for when, _, _ in payments)
        self.notify(lambda: payment_receipts(paid), last + timedelta(minutes=1))

    @staticmethod
    def sms_on() -> bool:
        from notifications.models import NotificationSettings

        return bool(NotificationSettings.load().at_username)

    def notify(self, make: Callable[[], object], at: datetime) -> None:
        """Make a step's messages by the notifications path, then send and deliver them at `at`."""
        from notifications.models import Channel, Message

        before = Message.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        make()
        deliver(list(Message.objects.filter(pk__gt=before, channel=Channel.SMS, status=Message.Status.QUEUED)
                     .values_list("pk", flat=True)), at)


def restamp() -> None:
    """The columns the database stamps with the moment a row is written (a message's `created`,
    a callback's `received`, a delivery report's) moved to the moment of their step, so the
    message log and a payment's "as received" read as the year happened. Nothing else moves:
    the figures were all written by their services at their own times."""
    from django.db.models import F, OuterRef, Subquery

    from notifications.models import DeliveryReport, Message
    from payments.models import CallbackInbox, Payment

    Message.objects.filter(sent_at__isnull=False).update(created=F("sent_at") - timedelta(seconds=30))
    delivered = Message.objects.filter(pk=OuterRef("message_id")).values("delivered_at")
    DeliveryReport.objects.filter(message__delivered_at__isnull=False).update(received=Subquery(delivered))
    paid = Subquery(Payment.objects.filter(inbox=OuterRef("pk")).order_by().values("paid_at")[:1])
    CallbackInbox.objects.filter(payments__isnull=False).update(received=paid + timedelta(seconds=3),
                                                                processed=paid + timedelta(seconds=4))


def simulate(*, today: date | None = None) -> bool:
    """The year, once per provider (not when it has billing runs already); True when seeded."""
    from billing.models import BillingRun
    from notifications.models import NotificationSettings

    if BillingRun.objects.exists():
        return False
    cfg = NotificationSettings.load()
    # Messages made while seeding are sent at their step's time, not held for quiet hours now.
    quiet, cfg.quiet_hours = cfg.quiet_hours, False
    cfg.save(update_fields=["quiet_hours"])
    from billing.receivers import queue_invoice_pdfs
    from billing.signals import billing_run_finalized

    # The bill PDFs say how the account stood when each bill was issued whenever they are drawn:
    # they are queued once the year is lived (a worker draws them, or each on first download).
    billing_run_finalized.disconnect(queue_invoice_pdfs)
    try:
        with sms_answered(), tasks_inline():
            Year(today or timezone.localdate()).run()
        with transaction.atomic():
            restamp()
    finally:
        billing_run_finalized.connect(queue_invoice_pdfs)
        NotificationSettings.objects.filter(pk=cfg.pk).update(quiet_hours=quiet)
    if settings.CELERY_TASK_ALWAYS_EAGER is False:
        for run_id in BillingRun.objects.values_list("pk", flat=True):
            queue_invoice_pdfs(sender=BillingRun, run_id=run_id)
    return True
