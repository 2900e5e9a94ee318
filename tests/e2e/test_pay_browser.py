"""A client pays a bill by M-Pesa STK push in a real browser on a phone-sized screen: the
gunicorn server calls the Daraja stand-in over HTTP, the stand-in posts the result back, the
page's live status turns to paid and the balance follows, in the portal and the dashboard."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from tests.billing_helpers import domestic_tariff, own_provider
from tests.conftest import PASSWORD
from tests.e2e.conftest import AppServer
from tests.e2e.test_billing_wizard_browser import log_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def billed_provider(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """A provider of its own (committed, dropped afterwards) on Safaricom's sandbox values, with
    one client billed 610.00 for October and able to log in."""
    from accounts.models import User
    from billing.runs import billing_run_finalize, billing_run_start
    from clients.models import Category, Client
    from meters.services import meter_create, readings_record
    from tests.payments_helpers import mpesa_ready

    with own_provider(django_db_blocker, "pay", name="Pay Water") as made:
        with django_db_blocker.unblock(), tenant_context(made):
            domestic_tariff()
            client = Client.objects.create(account_number="P001", full_name="Paying Client",
                                           category=Category.objects.get(code="domestic"), phone="+254712345678")
            client.user = User.objects.create_user(f"client@{made.slug}.test", PASSWORD, full_name="Paying Client",
                                                   role="client")
            client.save()
            meter = meter_create(actor="e2e", serial=f"PM-{made.slug}", client=client, installed_on=date(2026, 1, 1))
            assert readings_record([
                {"meter": meter.serial, "value": "100", "read_at": "2026-09-30T09:00:00+03:00"},
                {"meter": meter.serial, "value": "112", "read_at": "2026-10-31T09:00:00+03:00"}], source="api").errors == []
            run, _ = billing_run_start(period="2026-10", actor="e2e")
            billing_run_finalize(run=run, actor="e2e")
            mpesa_ready()
        connection.set_schema_to_public()
        yield made


def test_a_client_pays_by_mpesa_and_sees_it_land(page: Page, app_server: AppServer, billed_provider, daraja_session,
                                                   tmp_path) -> None:  # type: ignore[no-untyped-def]
    slug = billed_provider.slug
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, app_server, slug, f"client@{slug}.test")
    expect(page.get_by_test_id("portal-balance")).to_have_text("KES 610.00")
    page.get_by_role("link", name="Pay now").click()
    expect(page.get_by_label("M-Pesa phone number")).to_have_value("+254712345678")
    expect(page.get_by_label("Amount").first).to_have_value("610")
    page.get_by_role("button", name="Pay with M-Pesa").click()

    # The prompt is on its way; the page waits for M-Pesa's answer and then shows it.
    expect(page.get_by_test_id("pay-message")).to_contain_text("Check your phone")
    page.screenshot(path=str(tmp_path / "pending.png"), full_page=True)
    expect(page.get_by_test_id("pay-message")).to_contain_text("Paid. M-Pesa receipt", timeout=15000)
    expect(page.get_by_test_id("pay-balance")).to_have_text("KES 0.00")
    page.screenshot(path=str(tmp_path / "paid.png"), full_page=True)
    pushes = [r for r in daraja_session.requests if r["path"].startswith("/mpesa/stkpush/")]
    assert pushes[-1]["json"]["AccountReference"] == "P001" and pushes[-1]["json"]["Amount"] == "610"

    page.get_by_role("link", name="Payments", exact=True).click()
    expect(page.get_by_role("cell", name="610.00")).to_be_visible()
    page.get_by_role("link", name="My account").click()
    expect(page.get_by_test_id("portal-balance")).to_have_text("KES 0.00")

    # The provider's dashboard shows the payment, allocated to October's invoice.
    page.context.clear_cookies()
    log_in(page, app_server, slug, f"owner@{slug}.test")
    page.goto(app_server.url(slug, "/dashboard/payments/"))
    page.get_by_role("row").nth(1).get_by_role("link").click()
    expect(page.get_by_text("INV-2026-000001")).to_be_visible()
    expect(page.get_by_text("KES 610.00").first).to_be_visible()  # the amount, and the allocation


def test_the_pay_link_from_a_bill_message_pays_without_logging_in(page: Page, app_server: AppServer, billed_provider,
                                                                   daraja_session, django_db_blocker) -> None:  # type: ignore[no-untyped-def]
    """The link a bill SMS carries opens the pay page with no session; its form posts (the page
    keeps the link out of any Referer, yet the POST carries its Origin, so CSRF accepts it) and
    the M-Pesa prompt goes out."""
    from clients.models import Client
    from payments.collect import pay_link_token

    with django_db_blocker.unblock(), tenant_context(billed_provider):
        token = pay_link_token(Client.objects.get(account_number="P001"))
    connection.set_schema_to_public()
    page.set_viewport_size({"width": 390, "height": 844})
    response = page.goto(app_server.url(billed_provider.slug, f"/pay/{token}/"))
    assert response is not None and response.status == 200
    assert "same-origin" in (response.headers.get("referrer-policy") or "")
    expect(page.get_by_label("M-Pesa phone number")).to_have_value("")  # the link shows no phone number
    page.get_by_label("M-Pesa phone number").fill("0712 345 678")
    page.get_by_role("button", name="Pay with M-Pesa").click()
    expect(page.get_by_test_id("pay-message")).to_contain_text("Check your phone")
    pushes = [r for r in daraja_session.requests if r["path"].startswith("/mpesa/stkpush/")]
    assert pushes and pushes[-1]["json"]["AccountReference"] == "P001"
