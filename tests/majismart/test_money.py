"""Money as people read it (`KES 1,664.00`, negatives `KES -1,664.00`) in every template, text and
PDF; a bill that leaves nothing to pay never asks for "KES 0.00"; reminders skip clients owing
nothing; a pay link for a settled account says so and starts no payment."""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.template import Context, Template
from django.test import Client as Http
from django.utils import timezone

from accounts.models import User
from billing.models import Invoice
from billing.runs import billing_run_finalize, billing_run_start
from billing.services import adjustment_post
from majismart.money import kes
from notifications.models import Message, NotificationSettings
from payments.collect import MSG_AMOUNT, pay_link_token
from payments.models import PaymentRequest
from payments.mpesa import stk_start
from payments.notices import reminders_send
from payments.services import payment_record
from tests.billing_helpers import NBO, D, metered, read, travel
from tests.conftest import host_of, login
from tests.notifications_helpers import committed, sms_ready
from tests.payments_helpers import mpesa_ready

PHONE = "+254712345678"


# --- the format --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("amount", "text"), [
    (D("0"), "KES 0.00"), (D("1664"), "KES 1,664.00"), (D("1234567.5"), "KES 1,234,567.50"),
    (D("-1664"), "KES -1,664.00"), (None, "KES 0.00"), (D("0.005"), "KES 0.01"), (D("-0.001"), "KES 0.00"),
    ("1664.5", "KES 1,664.50"), (1664, "KES 1,664.00"), ("not money", ""),
])
def test_kes_writes_amounts_one_way(amount, text) -> None:  # type: ignore[no-untyped-def]
    assert kes(amount) == text


def test_the_template_filter_is_the_same_function() -> None:
    assert Template("{{ a|kes }} / {{ b|kes }}").render(Context({"a": D("1664"), "b": D("-20.5")})) == (
        "KES 1,664.00 / KES -20.50")


# --- bill notices -------------------------------------------------------------------------------------
@pytest.fixture
def billed(tenant, at):  # type: ignore[no-untyped-def]
    """Wanjiru with a phone, September metered (10 m³ = KES 500.00), SMS and M-Pesa set up."""
    sms_ready()
    mpesa_ready()
    client, meter = metered("Wanjiru Kamau")
    client.phone = PHONE
    client.save()
    read(meter, "0", "2026-08-31")
    read(meter, "10", "2026-09-30")
    return client


def finalize() -> Invoice:
    with travel("2026-10-02"), committed():
        run = billing_run_finalize(run=billing_run_start(period="2026-09")[0])
    return Invoice.objects.get(run=run)


def texts(event: str) -> list[str]:
    return list(Message.objects.filter(event=event, channel="sms").values_list("text", flat=True))


def test_it_writes_the_amount_due_with_thousands_in_the_bill_sms(billed, at) -> None:  # type: ignore[no-untyped-def]
    with travel("2026-09-30"):
        adjustment_post(client=billed, amount="1164", reason="Arrears from the old system", actor="test")
    finalize()
    [sent] = at.wait_for_messages(1)
    assert "Sep 2026 bill KES 1,664.00 due 16 Oct 2026." in sent["message"]
    assert texts("invoice_nothing_to_pay") == []


def test_it_tells_a_client_in_credit_there_is_nothing_to_pay(billed, at) -> None:  # type: ignore[no-untyped-def]
    with travel("2026-09-30"):  # paid ahead: 2,164.00 against a 500.00 bill
        payment_record(method="cash", receipt="CASH-1", amount=D("2164"), paid_at=timezone.now(), client=billed)
    finalize()
    assert texts("invoice_issued") == []
    assert texts("invoice_nothing_to_pay") == [
        f"Alpha Water: Sep 2026 bill KES 500.00 for acc {billed.account_number}. "
        "Nothing to pay; credit of KES 1,664.00."]


def test_it_says_nothing_to_pay_without_a_credit_when_settled_exactly(billed, at) -> None:  # type: ignore[no-untyped-def]
    with travel("2026-09-30"):
        payment_record(method="cash", receipt="CASH-2", amount=D("500"), paid_at=timezone.now(), client=billed)
    finalize()
    assert texts("invoice_nothing_to_pay") == [
        f"Alpha Water: Sep 2026 bill KES 500.00 for acc {billed.account_number}. Nothing to pay."]


def test_a_provider_can_send_nothing_for_a_bill_with_nothing_to_pay(billed, at) -> None:  # type: ignore[no-untyped-def]
    sms_ready(zero_bill_notice=NotificationSettings.ZeroBill.SKIP)
    with travel("2026-09-30"):
        payment_record(method="cash", receipt="CASH-3", amount=D("2164"), paid_at=timezone.now(), client=billed)
    finalize()
    assert not Message.objects.filter(event__in=["invoice_issued", "invoice_nothing_to_pay"]).exists()


def test_the_choice_is_on_the_settings_page(tenant) -> None:  # type: ignore[no-untyped-def]
    alice = Http(HTTP_HOST=host_of("alpha"))
    login(alice, "alice@alpha.test")
    page = alice.get("/dashboard/messages/settings/").content.decode()
    assert '<option value="nothing_to_pay" selected>' in page and 'name="zero_bill_notice"' in page
    form = {"at_environment": "sandbox", "sms_cost_per_segment": "0.80", "quiet_start": "21:00", "quiet_end": "07:00",
            "reminder_days_before": "3", "reminder_days_after": "1, 7", "disconnection_notice_days": "30",
            "reminder_hour": "9"}
    assert alice.post("/dashboard/messages/settings/", {**form, "zero_bill_notice": "maybe"}).status_code == 400
    assert alice.post("/dashboard/messages/settings/", {**form, "zero_bill_notice": "skip"}).status_code == 302
    assert NotificationSettings.load().zero_bill_notice == "skip"


def test_no_reminder_goes_to_a_client_owing_nothing(billed, at) -> None:  # type: ignore[no-untyped-def]
    # Reminders pick bills with balance_due > 0, and a bill's balance due never exceeds what the
    # client owes in all (billing.selectors._BALANCE_DUE_SQL): a credit of any kind settles it.
    finalize()  # 500.00 due 16 Oct
    with travel("2026-10-05"):  # a goodwill credit, not a payment allocated to the bill
        adjustment_post(client=billed, amount="-600", reason="Leak allowance", actor="test")
    with time_machine.travel(datetime(2026, 10, 13, 10, tzinfo=NBO), tick=False), committed():
        reminders_send()
    with time_machine.travel(datetime(2026, 10, 17, 10, tzinfo=NBO), tick=False), committed():
        reminders_send()
    assert not Message.objects.filter(event__in=["reminder_due", "overdue"]).exists()


# --- pay links ----------------------------------------------------------------------------------------
@pytest.fixture
def settled(tenant):  # type: ignore[no-untyped-def]
    mpesa_ready()
    client, _ = metered("Paid Ahead")
    with travel("2026-10-01"):
        payment_record(method="cash", receipt="CASH-9", amount=D("1664"), paid_at=timezone.now(), client=client)
    return client


def test_a_pay_link_for_a_settled_account_says_so(settled, daraja) -> None:  # type: ignore[no-untyped-def]
    token = pay_link_token(settled)
    http = Http(HTTP_HOST=host_of("alpha"))
    html = http.get(f"/pay/{token}/").content.decode()
    assert "Nothing to pay — your account is settled" in html
    assert "You have a credit of KES 1,664.00; it goes towards your next bill." in html
    assert 'name="phone"' not in html and "Pay with M-Pesa" not in html  # no form for KES 0.00
    refused = http.post(f"/pay/{token}/", {"phone": "0712 345 678", "amount": "1"})  # a form kept open
    assert refused.status_code == 400 and "Nothing to pay — your account is settled" in refused.content.decode()
    assert not PaymentRequest.objects.exists()


def test_a_settled_account_without_credit_shows_no_credit(tenant) -> None:  # type: ignore[no-untyped-def]
    mpesa_ready()
    client, _ = metered("Nothing Yet")
    html = Http(HTTP_HOST=host_of("alpha")).get(f"/pay/{pay_link_token(client)}/").content.decode()
    assert "Nothing to pay — your account is settled" in html and "credit of" not in html
    assert 'data-testid="link-balance">KES 0.00<' in html


def test_an_stk_push_for_nothing_is_refused(settled, daraja) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as refused:
        stk_start(client=settled, phone="0712 345 678", amount="0")
    assert refused.value.message_dict == {"amount": [MSG_AMOUNT]}
    assert not PaymentRequest.objects.exists()


def test_a_pay_link_owing_money_still_offers_the_form(tenant) -> None:  # type: ignore[no-untyped-def]
    mpesa_ready()
    client, _ = metered("Owes Money")
    adjustment_post(client=client, amount="1664", reason="Arrears", actor=User.objects.get(email="alice@alpha.test"))
    html = Http(HTTP_HOST=host_of("alpha")).get(f"/pay/{pay_link_token(client)}/").content.decode()
    assert 'data-testid="link-balance">KES 1,664.00<' in html and 'name="phone"' in html
    assert "Nothing to pay" not in html


def test_the_portal_says_how_much_a_client_is_in_credit(settled) -> None:  # type: ignore[no-untyped-def]
    settled.user = User.objects.get(email="carol@alpha.test")
    settled.save()
    carol = Http(HTTP_HOST=host_of("alpha"))
    login(carol, "carol@alpha.test")
    assert "in credit by KES 1,664.00" in carol.get("/portal/bills/").content.decode()
