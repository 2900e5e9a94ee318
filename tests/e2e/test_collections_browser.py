"""Collections on phones, end to end (issue 19's proof): a field officer completes a disconnection
with a reading and a photo; the client is disconnected and charged the reconnection fee; the
client pays the balance by M-Pesa STK push from the portal (the Daraja stand-in posts its
callback to the server); the reconnection order appears on the officer's list by itself and is
completed; the client is active again."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from tests.accounts.test_authorization_matrix import PNG
from tests.billing_helpers import domestic_tariff, own_provider, travel
from tests.conftest import PASSWORD
from tests.e2e.conftest import AppServer
from tests.e2e.test_billing_wizard_browser import log_in

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def disconnection_ordered(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """A provider of its own (committed, dropped afterwards) on Safaricom's sandbox values: a client
    billed September 500.00 and October 940.00, unpaid (past the rule's 30 days and 500.00), a
    reconnection fee of 1,000.00 in the catalogue, a meter reader, and the client's disconnection
    started and its date reached: the disconnect work order is open."""
    from accounts.models import User
    from arrears.models import ArrearsSettings, Disconnection
    from arrears.services import disconnection_start, disconnections_due
    from billing.models import Fee
    from billing.runs import billing_run_finalize, billing_run_start
    from billing.selectors import client_balance
    from clients.models import Category, Client, Zone
    from fieldwork.models import WorkOrder
    from meters.services import meter_create, readings_record
    from tests.payments_helpers import mpesa_ready

    with own_provider(django_db_blocker, "col", name="Collect Water") as made:
        with django_db_blocker.unblock(), tenant_context(made):
            domestic_tariff()
            mpesa_ready()
            Fee.objects.create(code="reconnection", name="Reconnection fee", amount=Decimal("1000.00"), kind="fee")
            User.objects.create_user(f"reader@{made.slug}.test", PASSWORD, full_name="Field Officer",
                                     role="meter_reader")
            client = Client.objects.create(
                account_number="C001", full_name="Late Payer", category=Category.objects.get(code="domestic"),
                zone=Zone.objects.create(code="likoni", name="Likoni"), location="Plot 4, Likoni",
                phone="+254712345678",
                user=User.objects.create_user(f"client@{made.slug}.test", PASSWORD, full_name="Late Payer",
                                              role="client"))
            meter_create(actor="e2e", serial="CM-1", client=client, installed_on=date(2025, 1, 1))
            assert readings_record([
                {"meter": "CM-1", "value": "0", "read_at": "2026-08-31T09:00:00+03:00"},
                {"meter": "CM-1", "value": "10", "read_at": "2026-09-30T09:00:00+03:00"},
                {"meter": "CM-1", "value": "28", "read_at": "2026-10-31T09:00:00+03:00"}], source="api").errors == []
            for period, day in (("2026-09", "2026-10-02"), ("2026-10", "2026-11-02")):
                with travel(day):
                    billing_run_finalize(run=billing_run_start(period=period, actor="e2e")[0], actor="e2e")
            assert client_balance(client.pk) == Decimal("1440.00")
            # Started a week (the notice) ago: its date is today, and the daily task orders it.
            with travel((timezone.localdate() - timedelta(days=ArrearsSettings.load().notice_days)).isoformat()):
                item = disconnection_start(client=client, actor="e2e")
            assert item.notice_date == timezone.localdate()
            assert disconnections_due() == 1
            item = Disconnection.objects.select_related("disconnect_order").get(pk=item.pk)
            assert item.status == "ordered" and item.disconnect_order.status == WorkOrder.Status.OPEN
            made.disconnection = item
        connection.set_schema_to_public()
        yield made


def test_disconnected_paid_by_stk_push_and_reconnected_on_phones(  # type: ignore[no-untyped-def]
        page: Page, app_server: AppServer, disconnection_ordered, daraja_session, django_db_blocker,
        tmp_path) -> None:
    from billing.models import LedgerEntry
    from billing.selectors import client_balance
    from clients.models import Client
    from fieldwork.models import WorkOrder
    from payments.models import Payment
    from tests.e2e.test_phone_layouts_browser import CHECK_JS

    provider, slug = disconnection_ordered, disconnection_ordered.slug
    item = provider.disconnection
    disconnect = item.disconnect_order
    page.set_viewport_size(PHONE)

    def fits() -> None:  # no sideways scrolling, no table figure or tab off the screen
        assert page.evaluate(CHECK_JS) == [], page.url

    def db():  # type: ignore[no-untyped-def]
        return tenant_context(provider)

    # 1. The field officer: the disconnect order on their list, completed with a reading and a photo.
    log_in(page, app_server, slug, f"reader@{slug}.test")
    page.goto(app_server.url(slug, "/dashboard/field/"))
    row = page.get_by_test_id(f"order-{disconnect.reference}")
    expect(row).to_contain_text("Disconnect")
    expect(row).to_contain_text("C001")
    expect(row).to_contain_text("Meter CM-1")
    expect(row).to_contain_text("KES 1,440.00")
    expect(page.get_by_test_id("zone").filter(has=row)).to_contain_text("Likoni")
    fits()
    row.get_by_role("link").click()
    expect(page.get_by_test_id("order-status")).to_have_text("Open")
    expect(page.get_by_test_id("order-account")).to_have_text("C001")
    expect(page.get_by_test_id("order-balance")).to_contain_text("KES 1,440.00")
    expect(page.get_by_text("Disconnect the supply of account C001")).to_be_visible()
    page.get_by_label("Meter reading (m³)").fill("31")
    page.get_by_label("Note").fill("Locked at the stopcock")
    page.get_by_label("Photo").set_input_files({"name": "dial.png", "mimeType": "image/png", "buffer": PNG})
    fits()
    page.screenshot(path=str(tmp_path / "1-disconnect.png"), full_page=True)
    page.get_by_role("button", name="Mark done").click()
    expect(page).to_have_url(app_server.url(slug, "/dashboard/field/"))
    expect(page.get_by_role("status").first).to_contain_text(f"Work order {disconnect.reference} completed")
    expect(page.get_by_test_id(f"order-{disconnect.reference}")).to_have_count(0)
    expect(page.get_by_test_id("field-empty")).to_be_visible()

    with django_db_blocker.unblock(), db():
        order = WorkOrder.objects.select_related("reading").get(pk=disconnect.pk)
        assert order.status == "done" and order.reading.value == Decimal("31.000") and order.photo
        assert Client.objects.get(pk=item.client_id).status == "disconnected"
        item.refresh_from_db()
        assert (item.status, item.fee) == ("disconnected", Decimal("1000.00"))
        assert LedgerEntry.objects.filter(client_id=item.client_id, kind="fee", amount=Decimal("1000.00")).count() == 1
        assert client_balance(item.client_id) == Decimal("2440.00")  # arrears + the reconnection fee
        assert not WorkOrder.objects.filter(kind="reconnect").exists()
    connection.set_schema_to_public()

    # 2. The client, on their phone: the fee is on their balance; they pay it all by STK push.
    page.context.clear_cookies()
    log_in(page, app_server, slug, f"client@{slug}.test")
    expect(page.get_by_test_id("portal-balance")).to_have_text("KES 2,440.00")
    fits()
    page.screenshot(path=str(tmp_path / "2-portal.png"), full_page=True)
    page.get_by_role("link", name="Statement").first.click()
    expect(page.get_by_role("row").filter(has_text="Reconnection fee")).to_contain_text("1,000.00")
    fits()
    page.screenshot(path=str(tmp_path / "2-statement.png"), full_page=True)
    page.get_by_role("link", name="My account").click()
    page.get_by_role("link", name="Pay now").click()
    expect(page.get_by_label("M-Pesa phone number")).to_have_value("+254712345678")
    expect(page.get_by_label("Amount").first).to_have_value("2440")
    fits()
    page.get_by_role("button", name="Pay with M-Pesa").click()
    expect(page.get_by_test_id("pay-message")).to_contain_text("Check your phone")
    expect(page.get_by_test_id("pay-message")).to_contain_text("Paid. M-Pesa receipt", timeout=15000)
    expect(page.get_by_test_id("pay-balance")).to_have_text("KES 0.00")
    fits()
    page.screenshot(path=str(tmp_path / "2-paid.png"), full_page=True)
    pushes = [r for r in daraja_session.requests if r["path"].startswith("/mpesa/stkpush/")]
    assert pushes[-1]["json"]["AccountReference"] == "C001" and pushes[-1]["json"]["Amount"] == "2440"

    # 3. The reconnection order is there by itself, from the callback.
    with django_db_blocker.unblock(), db():
        payment = Payment.objects.get(client_id=item.client_id)
        assert (payment.method, payment.amount) == ("mpesa", Decimal("2440.00"))
        item.refresh_from_db()
        assert item.status == "reconnect_ordered"
        reconnect = WorkOrder.objects.get(kind="reconnect")
        assert (reconnect.status, reconnect.source, item.reconnect_order_id) == (
            "open", f"reconnection:{item.pk}", reconnect.pk)
        assert Client.objects.get(pk=item.client_id).status == "disconnected"
    connection.set_schema_to_public()

    # 4. The field officer sees it on their list and completes it.
    page.context.clear_cookies()
    log_in(page, app_server, slug, f"reader@{slug}.test")
    page.goto(app_server.url(slug, "/dashboard/field/"))
    row = page.get_by_test_id(f"order-{reconnect.reference}")
    expect(row).to_contain_text("Reconnect")
    expect(row).to_contain_text("C001")
    fits()
    row.get_by_role("link").click()
    expect(page.get_by_test_id("order-status")).to_have_text("Open")
    expect(page.get_by_text("Reconnect the supply of account C001: the client has paid.")).to_be_visible()
    page.get_by_label("Meter reading (m³)").fill("31")
    page.get_by_label("Photo").set_input_files({"name": "open.png", "mimeType": "image/png", "buffer": PNG})
    fits()
    page.get_by_role("button", name="Mark done").click()
    expect(page).to_have_url(app_server.url(slug, "/dashboard/field/"))
    expect(page.get_by_role("status").first).to_contain_text(f"Work order {reconnect.reference} completed")
    expect(page.get_by_test_id(f"order-{reconnect.reference}")).to_have_count(0)
    page.goto(app_server.url(slug, f"/dashboard/work-orders/{reconnect.pk}/"))
    expect(page.get_by_test_id("order-status")).to_have_text("Done")
    fits()

    with django_db_blocker.unblock(), db():
        assert Client.objects.get(pk=item.client_id).status == "active"
        item.refresh_from_db()
        assert item.status == "reconnected" and item.reconnected_at is not None
        assert WorkOrder.objects.get(pk=reconnect.pk).status == "done"
    connection.set_schema_to_public()

    # 5. The provider's dashboard tells the same story on the client's page.
    page.context.clear_cookies()
    log_in(page, app_server, slug, f"owner@{slug}.test")
    page.goto(app_server.url(slug, f"/dashboard/clients/{item.client_id}/"))
    expect(page.get_by_test_id("client-arrears")).to_contain_text("Disconnection: Reconnected")
    fits()
    page.goto(app_server.url(slug, "/dashboard/arrears/disconnections/"))
    expect(page.get_by_role("row").filter(has_text="C001")).to_contain_text("Reconnected")
    fits()
    page.screenshot(path=str(tmp_path / "5-disconnections.png"), full_page=True)
