"""What clients are told about their money, composed here (payments knows the paybill, the pay
link and the balances) and sent through notifications: bills issued, payments received, and the
reminder schedule (before the due date, overdue, disconnection notice). Every message has a
dedup key, so a job that runs again sends nothing twice."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.translation import gettext, override

from accounts.languages import chosen_or_default
from billing.models import Invoice, LedgerEntry
from billing.selectors import invoices_with_dues
from clients.models import Client
from majismart.money import kes
from majismart.tenancy import connection
from majismart.urls import domain_url
from notifications.models import Channel, NotificationSettings
from notifications.services import Outgoing, notify
from payments import documents
from payments.collect import pay_link_url
from payments.models import Payment

CHUNK = 500
CATCH_UP_DAYS = 3  # a reminder day missed (worker down) is still sent within this many days


def day(d: date | datetime) -> str:
    """"16 Oct 2026", in the active language (the client's, where a message is composed)."""
    d = timezone.localtime(d).date() if isinstance(d, datetime) else d
    return date_format(d, "j M Y")


def period_label(code: str) -> str:
    return date_format(date(int(code[:4]), int(code[5:7]), 1), "M Y")


def how_to_pay_words(ways: dict | None, account: str) -> tuple[str, str]:
    """(how to pay, short enough for a text: "Paybill 174379 Acc ACC00012"; the paybill or till
    number) as the bill prints it (`ways` from payments.documents.how_to_pay, read once a batch)."""
    if ways is None:
        return gettext("Pay at our office, acc %(account)s") % {"account": account}, ""
    if ways["account"]:
        return (gettext("Paybill %(number)s Acc %(account)s") % {"number": ways["number"], "account": account},
                str(ways["number"]))
    return gettext("Buy Goods Till %(number)s") % {"number": ways["number"]}, str(ways["number"])


def balances(client_ids: Iterable[int | None]) -> dict[int, Decimal]:
    """What each client owes (None, no client, owes nothing: an IN list leaves it out)."""
    rows = (LedgerEntry.objects.filter(client_id__in=list(client_ids)).values("client_id")
            .annotate(total=Sum("amount")).values_list("client_id", "total"))
    return dict(rows)


def _send(event: str, pairs: list[tuple[Client, str, dict[str, str], list[dict]]]) -> int:
    """SMS to each client's phone and email to its address (attachments on the email only)."""
    cfg = NotificationSettings.load()
    made = 0
    for channel, address in ((Channel.SMS, "phone"), (Channel.EMAIL, "email")):
        outgoing = [Outgoing(key=key, recipient=getattr(c, address), values=values, client_id=c.pk,
                             attachments=attachments if channel == Channel.EMAIL else [])
                    for c, key, values, attachments in pairs if getattr(c, address)]
        made += len(notify(event=event, channel=channel, outgoing=outgoing, cfg=cfg))
    return made


def _values(client: Client, ways: dict | None) -> dict[str, str]:
    words, number = how_to_pay_words(ways, client.account_number)
    return {"provider": connection.tenant.name, "name": client.full_name, "account": client.account_number,
            "how_to_pay": words, "paybill": number, "pay_link": pay_link_url(client)}


def nothing_to_pay_words(balance: Decimal) -> str:
    """What a client owing nothing (`balance` <= 0) is told instead of an amount to pay."""
    if balance < 0:
        return gettext("Nothing to pay; credit of %(credit)s") % {"credit": kes(-balance)}
    return gettext("Nothing to pay")


def invoice_notices(invoice_ids: list[int]) -> int:
    """The "bill issued" SMS and email (with the PDF) for these issued invoices. A client the bill
    leaves owing nothing is told so (or, as the provider chooses, nothing), never "pay KES 0.00"."""
    invoices = list(Invoice.objects.filter(pk__in=invoice_ids, status=Invoice.Status.ISSUED).select_related("client"))
    owed, ways = balances(i.client_id for i in invoices), documents.how_to_pay()
    portal = domain_url(connection.tenant.domain, "/portal/")
    send_settled = NotificationSettings.load().zero_bill_notice == NotificationSettings.ZeroBill.NOTHING_TO_PAY
    due, settled = [], []
    for inv in invoices:
        balance = owed.get(inv.client_id) or Decimal(0)
        with override(chosen_or_default(inv.client.language)):  # dates and words in the client's language
            values = {**_values(inv.client, ways), "period": period_label(inv.period), "invoice": inv.number or "",
                      "amount": kes(inv.total), "portal_link": portal}
            pair = (inv.client, f"invoice:{inv.pk}", values, [{"kind": "invoice_pdf", "id": inv.pk}])
            if balance > 0:
                values.update(amount_due=kes(balance), due_date=day(inv.due_date) if inv.due_date else "")
                due.append(pair)
            elif send_settled:
                values["nothing_to_pay"] = nothing_to_pay_words(balance)
                settled.append(pair)
    return (_send("invoice_issued", due) if due else 0) + (_send("invoice_nothing_to_pay", settled) if settled else 0)


def payment_receipts(payment_ids: list[int]) -> int:
    """The "payment received" SMS and email (with the receipt) for these matched payments."""
    payments = list(Payment.objects.filter(pk__in=payment_ids, status=Payment.Status.MATCHED,
                                           client__isnull=False).select_related("client"))
    owed, ways = balances(p.client_id for p in payments), documents.how_to_pay()
    pairs: list[tuple[Client, str, dict[str, str], list[dict]]] = []
    for p in payments:
        assert p.client is not None and p.client_id is not None  # client__isnull=False above
        with override(chosen_or_default(p.client.language)):
            values = {**_values(p.client, ways), "amount": kes(p.amount), "receipt": p.receipt, "date": day(p.paid_at),
                      "balance": kes(owed.get(p.client_id, Decimal(0))), "method": p.get_method_display()}
        pairs.append((p.client, f"payment:{p.pk}", values, [{"kind": "receipt_pdf", "id": p.pk}]))
    return _send("payment_received", pairs)


def _windows(offsets: list[int], ceiling: int | None) -> list[tuple[int, int]]:
    """[first day, last day + 1) after the due date (negative: before) in which each reminder day
    is sent: from its day until the next one, the ceiling, or CATCH_UP_DAYS later."""
    offsets = sorted(set(offsets))
    windows = []
    for i, offset in enumerate(offsets):
        end = offset + CATCH_UP_DAYS
        if i + 1 < len(offsets):
            end = min(end, offsets[i + 1])
        if ceiling is not None:
            end = min(end, ceiling)
        if end > offset:
            windows.append((offset, end))
    return windows


def reminder_plan(cfg: NotificationSettings) -> list[tuple[str, int, int]]:
    """(event, first day, end day) relative to the due date, from the provider's schedule."""
    plan = [("reminder_due", a, b) for a, b in _windows([-d for d in cfg.reminder_days_before], 0)]
    after = list(cfg.reminder_days_after)
    plan += [("overdue", a, b) for a, b in _windows(after, cfg.disconnection_notice_days or None)]
    if cfg.disconnection_notice_days:
        plan += [("disconnection", a, b) for a, b in _windows([cfg.disconnection_notice_days], None)]
    return plan


def reminders_send(*, now: datetime | None = None) -> dict[str, int]:
    """Reminders, overdue and disconnection notices due today for unpaid bills (from the
    provider's reminder hour, Nairobi time), each once per bill and reminder day."""
    cfg = NotificationSettings.load()
    local = timezone.localtime(now or timezone.now())
    if local.hour < cfg.reminder_hour:
        return {}
    today = local.date()
    made: dict[str, int] = {}
    for event, first, end in reminder_plan(cfg):
        due = (invoices_with_dues(Invoice.objects.filter(
            status=Invoice.Status.ISSUED, due_date__gt=today - timedelta(days=end), due_date__lte=today - timedelta(days=first),
            client__status__in=[Client.Status.ACTIVE] + ([] if event == "disconnection" else [Client.Status.DISCONNECTED])),
            today=today).filter(balance_due__gt=0)  # type: ignore[misc]  # an int compares with the numeric
            .select_related("client").order_by("id"))
        ids = list(due.values_list("id", flat=True))
        for start in range(0, len(ids), CHUNK):
            made[event] = made.get(event, 0) + _reminders(event, first, ids[start:start + CHUNK], today)
    return made


def _reminders(event: str, first: int, ids: list[int], today: date) -> int:
    # Keyed by the reminder day of the schedule (not today's distance): once per bill and day.
    invoices = list(Invoice.objects.filter(pk__in=ids).select_related("client"))
    owed, ways = balances(i.client_id for i in invoices), documents.how_to_pay()
    pairs: list[tuple[Client, str, dict[str, str], list[dict]]] = []
    for inv in invoices:
        assert inv.due_date is not None  # issued bills have a due date
        offset = (today - inv.due_date).days
        with override(chosen_or_default(inv.client.language)):
            values = {**_values(inv.client, ways), "amount_due": kes(owed.get(inv.client_id, Decimal(0))),
                      "due_date": day(inv.due_date), "days": str(abs(offset))}
        pairs.append((inv.client, f"invoice:{inv.pk}:{first}", values, []))
    return _send(event, pairs)
