"""`make run` tried offline: in a real browser, the Africa's Talking stand-in's simulator dials a
provider's USSD code as a client's phone against a real gunicorn server, answers its screens
(the balance, then a payment whose M-Pesa prompt reaches the Daraja stand-in and becomes a
payment), and texts BAL to its number, the reply listed on the page."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from tests.billing_helpers import billed_twice, domestic_tariff, own_provider, travel
from tests.e2e.conftest import AppServer

pytestmark = pytest.mark.e2e

PHONE = "+254712345678"


@pytest.fixture
def ussd_provider(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """A provider of its own (committed, dropped afterwards): a client on PHONE owing 1,440.00,
    SMS on the stand-in (any key), M-Pesa on Safaricom's sandbox values."""
    from tests.notifications_helpers import sms_ready
    from tests.payments_helpers import mpesa_ready

    with own_provider(django_db_blocker, "ussd", name="Ussd Water") as made:
        with django_db_blocker.unblock(), tenant_context(made), travel("2026-11-23"):
            domestic_tariff()
            client = billed_twice("Wanjiru Kamau")
            client.phone = PHONE
            client.save()
            sms_ready()
            mpesa_ready()
            account = client.account_number
        connection.set_schema_to_public()
        yield made, account


def test_the_simulator_dials_pays_and_texts_against_the_running_app(  # type: ignore[no-untyped-def]
        page: Page, app_server: AppServer, ussd_provider, africastalking_session, daraja_session,
        django_db_blocker) -> None:
    provider, account = ussd_provider
    token = provider.callback_token
    standin = africastalking_session
    standin.register_ussd_code("*384*77#", app_server.url(provider.slug, f"/ussd/{token}/"))
    standin.register_sms_number("20077", app_server.url(provider.slug, f"/sms/inbound/{token}/"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{standin.base_url}/__standin__/ussd")
    dial = page.locator("form", has=page.locator("input[value=dial]"))
    dial.locator("input[name=phone]").fill(PHONE)
    dial.locator("select[name=code]").select_option("*384*77#")
    dial.get_by_role("button", name="Dial").click()
    screen = page.locator("#screen")
    expect(screen).to_contain_text(f"CON Ussd Water {account}")
    expect(screen).to_contain_text("1. Balance")

    def answer(value: str) -> None:
        page.locator("input[name=input]").fill(value)
        page.get_by_role("button", name="Send").first.click()

    answer("1")
    expect(screen).to_have_text(f"CON Account {account}: you owe KES 1,440.00.\n0 Back 00 Home")
    answer("00")
    answer("3")
    expect(screen).to_contain_text("1. Balance KES 1,440.00")
    pushes_before = len([r for r in daraja_session.requests if r["path"].startswith("/mpesa/stkpush/")])
    answer("1")
    expect(screen).to_contain_text("END An M-Pesa prompt to pay KES 1,440.00")
    expect(page.locator("input[name=input]")).to_have_count(0)  # the session has ended

    # The prompt reached the Daraja stand-in, whose result became the payment.
    from billing.selectors import client_balance
    from clients.models import Client

    deadline = time.monotonic() + 20
    while True:
        pushes = [r for r in daraja_session.requests if r["path"].startswith("/mpesa/stkpush/")]
        with django_db_blocker.unblock(), tenant_context(provider):
            balance = client_balance(Client.objects.get(account_number=account).pk)
        if len(pushes) > pushes_before and balance == 0:
            break
        assert time.monotonic() < deadline, (len(pushes), balance)
        time.sleep(0.3)
    connection.set_schema_to_public()
    assert pushes[-1]["json"]["AccountReference"] == account and pushes[-1]["json"]["Amount"] == "1440"

    sms = page.locator("form", has=page.locator("input[value=sms]"))
    sms.locator("input[name=phone]").fill(PHONE)
    sms.locator("select[name=number]").select_option("20077")
    sms.locator("input[name=text]").fill("bal")
    sms.get_by_role("button", name="Send").click()
    expect(page.locator("#received")).to_contain_text(f"Ussd Water: Account {account}: nothing to pay.")
