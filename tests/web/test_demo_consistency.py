"""The demo tells one story: seed_demo's year (web.demo_year) lived in time order on a fresh
provider, then, for clients who pay in full, late, partly, at the counter and not at all, every
figure read back where people read it: the ledger statement (API and page), the invoices (API and
page), the bill PDF (pdftotext), the bill SMS and the portal."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client as Http
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import User
from billing.models import BillingRun, Invoice, LedgerEntry
from billing.selectors import client_balance, invoices_with_dues
from clients.models import Client
from majismart.money import kes
from notifications.models import Message
from notifications.text import sms_size
from payments.models import CallbackInbox, Payment
from tests.billing.test_documents import figure, flat, text_of
from tests.conftest import host_of
from web import demo
from web.demo_year import ARREARS_CLIENT, ARREARS_MONTHS, MONTHS, SMS_MONTHS

CLIENTS = 12
# By account-number order: 0 the portal's client (M-Pesa, a week after each bill), 2 pays about
# half, 3 pays late, 4 pays cash (and its meter leaks in the last month), 6 stops paying.
WATCHED = (0, 2, 3, 4, ARREARS_CLIENT, 8, 9)


def money(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


@pytest.fixture
def seeded(alpha):  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        demo.seed_provider("alpha", clients=CLIENTS)
        yield alpha


def staff(email: str) -> Http:
    http = Http(HTTP_HOST=host_of("alpha"))
    http.force_login(User.objects.get(email=email))
    return http


def test_the_year_happened_in_time_order(seeded) -> None:  # type: ignore[no-untyped-def]
    runs = list(BillingRun.objects.order_by("period"))
    assert [r.status for r in runs] == ["finalized"] * MONTHS and {r.invoice_count for r in runs} == {CLIENTS}
    for run in runs:  # each period billed the morning after it ended, numbered in issue order
        issued = {i.issued_on for i in Invoice.objects.filter(run=run)}
        assert len(issued) == 1 and issued.pop().day == 1 and run.as_of.day >= 28
    numbers = list(Invoice.objects.order_by("issued_on", "number").values_list("number", flat=True))
    assert numbers == sorted(numbers) and len(set(numbers)) == MONTHS * CLIENTS
    # The ledger was written in time order: every client's entries by id are in date order.
    for client_id in Client.objects.values_list("pk", flat=True):
        days = list(LedgerEntry.objects.filter(client_id=client_id).order_by("pk").values_list("booked_on", flat=True))
        assert days == sorted(days)
    # Payments came by the paths clients use: paybill confirmations and the cash desk.
    assert Payment.objects.filter(method="mpesa", inbox__kind=CallbackInbox.Kind.C2B_CONFIRMATION).count() > 50
    assert Payment.objects.filter(method="cash", recorded_by__isnull=False).exists()
    assert not CallbackInbox.objects.filter(status=CallbackInbox.Status.RECEIVED).exists()
    # One paybill payment named no account: it waits in reconciliation.
    assert Payment.objects.filter(status="unmatched").count() == 1
    # The client in arrears paid nothing in the last months and was charged penalties.
    arrears = Client.objects.order_by("account_number")[ARREARS_CLIENT]
    last_paid = Payment.objects.filter(client=arrears).order_by("-paid_at").first()
    recent = Invoice.objects.filter(client=arrears).order_by("-period")[ARREARS_MONTHS - 1]
    assert last_paid.paid_at.date() < recent.issued_on
    assert LedgerEntry.objects.filter(client=arrears, kind="penalty").count() >= ARREARS_MONTHS - 2
    # SMS: switched on three months ago; every bill and receipt since went out and was delivered,
    # at the time of its step.
    sms = Message.objects.filter(channel="sms")
    assert sms.filter(event="invoice_issued").count() == SMS_MONTHS * CLIENTS - sms.filter(
        event="invoice_nothing_to_pay").count()
    assert sms.filter(event="payment_received").count() > 0
    # Reminders went out day by day: the client in arrears was told its bills were overdue.
    assert sms.filter(event="overdue", client_id=arrears.pk).exists() and sms.filter(event="reminder_due").exists()
    assert set(sms.values_list("status", flat=True)) == {"delivered"}
    # Africa's Talking's answer, given in the seeding process (the image has no stand-in): an id,
    # the parts and what they cost, as the client reads them from a real answer.
    for text, provider_id, segments, cost in sms.values_list("text", "provider_message_id", "segments", "cost"):
        assert provider_id.startswith("ATXid_") and segments == sms_size(text).segments >= 1
        assert cost == Decimal("0.80") * segments
    first_sms_run = runs[MONTHS - SMS_MONTHS]
    assert min(sms.values_list("sent_at", flat=True)) > first_sms_run.finalized_at
    # The message log and a payment's "as received" read as the year happened.
    for made, sent, delivered in sms.values_list("created", "sent_at", "delivered_at"):
        assert made < sent < delivered and delivered - made < timedelta(minutes=5)
    for paid, received in Payment.objects.filter(method="mpesa").values_list("paid_at", "inbox__received"):
        assert timedelta(0) < received - paid < timedelta(minutes=1)
    # Seeding again changes nothing.
    counts = (Invoice.objects.count(), Payment.objects.count(), LedgerEntry.objects.count(), sms.count())
    demo.seed_provider("alpha", clients=CLIENTS)
    assert (Invoice.objects.count(), Payment.objects.count(), LedgerEntry.objects.count(), sms.count()) == counts


def test_every_figure_agrees_across_pdf_statement_invoice_page_sms_and_portal(seeded, alpha_api) -> None:  # type: ignore[no-untyped-def]
    clients = list(Client.objects.order_by("account_number"))
    manager = staff("amos@alpha.test")
    texted = 0
    for index in WATCHED:
        client = clients[index]
        balance = client_balance(client.pk)
        # The statement (API): its balance is the ledger's, and its running balance adds up.
        statement = alpha_api.get(f"/api/v1/clients/{client.pk}/statement/").json()
        assert Decimal(statement["balance"]) == balance
        running = Decimal(0)
        for entry in statement["entries"]:
            running += Decimal(entry["amount"])
            assert Decimal(entry["balance"]) == running
        assert running == balance
        # The statement page closes on the same balance.
        page = manager.get(f"/dashboard/clients/{client.pk}/statement/").content.decode()
        assert kes(balance) in page
        # Invoices (API): what is still owed on them is the balance, newest bills first.
        invoices = alpha_api.get(f"/api/v1/invoices/?client={client.pk}").json()
        rows = invoices["results"] if isinstance(invoices, dict) else invoices
        assert len(rows) == MONTHS
        owed_on_bills = sum(Decimal(r["balance_due"]) for r in rows)
        assert owed_on_bills == min(max(balance, Decimal(0)), sum(Decimal(r["total"]) for r in rows))
        latest = Invoice.objects.filter(client=client).order_by("-period").first()
        row = next(r for r in rows if r["id"] == latest.pk)
        # The bill PDF: this bill is the invoice's total; its amount due is the statement's
        # running balance after the bill's own entries (the account as it stood when issued).
        text = flat(text_of(manager.get(f"/dashboard/billing/invoices/{latest.pk}/pdf/").content))
        assert money(figure(text, "This bill")) == Decimal(row["total"]) == latest.total
        after_bill = [e for e in statement["entries"] if e["reference"] == latest.number][-1]
        assert money(figure(text, "Amount due")) == Decimal(after_bill["balance"])
        # Previous balance + payments + other + this bill = amount due, as printed.
        parts = [money(figure(text, label)) for label in
                 ("Previous balance", "Payments since", "Other credits and charges", "This bill")]
        assert sum(parts) == money(figure(text, "Amount due"))
        # The invoice page shows the same total and what is still owed on it.
        dues = invoices_with_dues(Invoice.objects.filter(pk=latest.pk)).get()
        assert Decimal(row["balance_due"]) == dues.balance_due
        invoice_page = manager.get(f"/dashboard/billing/invoices/{latest.pk}/").content.decode()
        assert kes(latest.total) in invoice_page and kes(dues.balance_due) in invoice_page
        # The bill SMS said the amount due the PDF prints.
        sms = Message.objects.filter(channel="sms", event="invoice_issued", dedup_key__endswith=f"invoice:{latest.pk}")
        for message in sms:
            assert f"bill KES {figure(text, 'Amount due')} due" in message.text
            texted += 1
    assert texted >= len(WATCHED) - 2  # those who owed something when the bill went out    # The portal client sees the statement's balance and the latest bill's total.
    portal_client = next(c for c in clients if c.user_id)
    http = Http(HTTP_HOST=host_of("alpha"))
    http.force_login(portal_client.user)
    home = http.get("/portal/").content.decode()
    shown = re.search(r'data-testid="portal-balance">([^<]+)<', home).group(1)
    assert shown == kes(client_balance(portal_client.pk))
    latest = Invoice.objects.filter(client=portal_client).order_by("-period").first()
    assert kes(latest.total) in home
    bill_page = http.get(f"/portal/bills/{latest.pk}/").content.decode()
    assert kes(latest.total) in bill_page
    portal_pdf = flat(text_of(http.get(f"/portal/bills/{latest.pk}/pdf/").content))
    manager_pdf = flat(text_of(manager.get(f"/dashboard/billing/invoices/{latest.pk}/pdf/").content))
    assert figure(portal_pdf, "Amount due") == figure(manager_pdf, "Amount due")


def test_arrears_and_field_work_tell_their_story(seeded) -> None:  # type: ignore[no-untyped-def]
    """Issue 19's pages have something to show (web.demo_field), made by the services people use."""
    from arrears.models import ArrearsSettings, Disconnection, PaymentPlan
    from fieldwork.models import ServiceRequest, WorkOrder
    from web.demo_field import seed_field

    assert ArrearsSettings.load().disconnect_above == Decimal("1000.00")
    register = list(Client.objects.order_by("account_number"))
    exempt = [c for c in register if c.disconnection_exempt]
    assert {c.full_name for c in exempt} == set(demo.EXEMPT.values())
    assert {c.category.code for c in exempt} == {"institutional"}
    # Service requests: open (the portal's client), overdue, in progress with an officer, resolved with history.
    now = timezone.now()
    requests = ServiceRequest.objects.all()
    assert requests.filter(client=register[0], status="open", channel="portal").exists()
    assert requests.filter(status="open", due_by__lt=now, assigned_to__isnull=True).exists()
    assert requests.filter(status="in_progress", assigned_to__role="meter_reader", due_by__lt=now).exists()
    resolved = requests.filter(status="resolved")
    assert resolved.count() == 2 and all(r.events.count() >= 2 and r.resolved_at > r.created for r in resolved)
    # Work orders: the field officer's open one, done ones (a service visit and a disconnection).
    assert WorkOrder.objects.filter(status="open", assigned_to__role="meter_reader").exists()
    assert set(WorkOrder.objects.filter(status="done").values_list("kind", flat=True)) == {"service", "disconnect"}
    # Plans: the client who stopped paying broke one (and is under notice); another is in good standing.
    stopped = register[ARREARS_CLIENT]
    assert PaymentPlan.objects.get(client=stopped).status == "broken"
    assert Disconnection.objects.get(client=stopped).status == "notice"
    good = PaymentPlan.objects.get(status="active")
    assert good.paid == good.down_payment > 0 and good.instalments.get(number=0).status == "paid"
    cut = Disconnection.objects.get(status="disconnected")
    assert cut.client.status == "disconnected" and cut.disconnected_at and cut.notice_date < cut.disconnected_at.date()
    assert not Disconnection.objects.filter(client__disconnection_exempt=True).exists()
    manager = staff("amos@alpha.test")  # the client page's cards say it in words
    assert "Disconnected on " in manager.get(f"/dashboard/clients/{cut.client_id}/").content.decode()
    noticed = manager.get(f"/dashboard/clients/{stopped.pk}/").content.decode()
    assert "Disconnection notice sent: supply to be cut from " in noticed and "Broken" in noticed
    assert 'data-testid="client-exempt"' in manager.get(f"/dashboard/clients/{exempt[0].pk}/").content.decode()
    # Accounts closed while owing: one written off (to 0), one left for the owner's decision.
    closed = Client.objects.filter(status="closed")
    written = LedgerEntry.objects.filter(kind="write_off")
    assert closed.count() == 2 and written.count() == 1
    assert client_balance(written.get().client_id) == 0
    assert [c for c in closed if client_balance(c.pk) > 0]
    # Every client's bills and statement still agree: the ledger was written in time order.
    for client in register:
        days = list(LedgerEntry.objects.filter(client=client).order_by("pk").values_list("booked_on", flat=True))
        assert days == sorted(days)
    assert seed_field() is False  # once


def test_each_zones_bulk_meter_shows_realistic_non_revenue_water(seeded) -> None:  # type: ignore[no-untyped-def]
    """Every zone has a bulk meter whose monthly input is its clients' billed consumption and
    20–35% more (web.demo.BULK_INPUT), read through the same pipeline; it is never billed."""
    from django.db.models import Sum

    from clients.models import Zone
    from meters.models import Meter
    from meters.selectors import bulk_zones, system_input

    zones = {z.pk: z.code for z in Zone.objects.all()}
    assert set(bulk_zones()) == set(zones)
    assert not Invoice.objects.filter(client__isnull=True).exists()
    assert Meter.objects.filter(kind="bulk", readings__status="accepted").distinct().count() == len(zones)
    periods = sorted(set(Invoice.objects.filter(run__isnull=False).values_list("period", flat=True)))
    middle = periods[1:-1]  # the first counts from installation; the last holds the leak's estimate
    assert middle
    inputs = system_input(middle)
    for period in middle:
        billed = dict(Invoice.objects.filter(period=period, run__isnull=False, estimated=False)
                      .values("client__zone_id").annotate(m3=Sum("consumption")).values_list("client__zone_id", "m3"))
        for zone_id, code in zones.items():
            factor = demo.BULK_INPUT[code]
            assert inputs[(zone_id, period)] == (billed[zone_id] * factor).quantize(Decimal("0.001")), (code, period)
            lost = 1 - billed[zone_id] / inputs[(zone_id, period)]
            assert Decimal("0.16") < lost < Decimal("0.26"), (code, period, lost)  # NRW % of input: 19–26%
