"""The billing-run wizard in a real browser on a phone-sized screen: period, preview, finalise,
then the invoice; and the client's bill in the portal."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from tests.billing_helpers import domestic_tariff, own_provider
from tests.conftest import PASSWORD
from tests.e2e.conftest import AppServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def provider(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """A provider of its own (committed, dropped afterwards): a tariff, three metered clients
    with October readings, one of them with a portal login."""
    from accounts.models import User
    from clients.models import Category, Client
    from meters.services import meter_create, readings_record

    with own_provider(django_db_blocker, "wiz", name="Wizard Water") as made:
        with django_db_blocker.unblock(), tenant_context(made):
            domestic_tariff()
            domestic = Category.objects.get(code="domestic")
            rows = []
            for i, used in enumerate((35, 12, 4), start=1):
                client = Client.objects.create(account_number=f"W{i:03d}", full_name=f"Wizard Client {i}",
                                               category=domestic)
                meter = meter_create(actor="e2e", serial=f"WZ-{made.slug}-{i}", client=client,
                                     installed_on=date(2026, 1, 1))
                rows += [{"meter": meter.serial, "value": "100", "read_at": "2026-09-30T09:00:00+03:00"},
                         {"meter": meter.serial, "value": str(100 + used), "read_at": "2026-10-31T09:00:00+03:00"}]
                if i == 1:
                    client.user = User.objects.create_user(f"client@{made.slug}.test", PASSWORD,
                                                           full_name="Wizard Client", role="client")
                    client.save(update_fields=["user"])
            assert readings_record(rows, source="api").errors == []
        connection.set_schema_to_public()
        yield made


def log_in(page: Page, app_server: AppServer, slug: str, email: str) -> None:
    page.goto(app_server.url(slug, "/accounts/login/"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_an_owner_bills_october_on_a_phone(page: Page, app_server: AppServer, provider, tmp_path) -> None:  # type: ignore[no-untyped-def]
    slug = provider.slug
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, app_server, slug, f"owner@{slug}.test")
    expect(page).to_have_url(app_server.url(slug, "/dashboard/"))

    page.goto(app_server.url(slug, "/dashboard/billing/"))
    page.get_by_label("Period").fill("2026-10")
    page.get_by_role("button", name="Compute the preview").click()
    expect(page.get_by_role("heading", name="October 2026")).to_be_visible()
    expect(page.get_by_test_id("billed")).to_have_text("3")
    # 35 m³: 1,950.00; 12 m³: 400 + 110 + 100 = 610.00; 4 m³: 160 + 100 = 260.00
    expect(page.get_by_test_id("total")).to_contain_text("2,820.00")
    page.screenshot(path=str(tmp_path / "preview.png"), full_page=True)

    page.get_by_label("Period", exact=True).fill("2026-10")
    page.get_by_role("button", name="Finalise and issue").click()
    expect(page.get_by_text("Issued 3 invoices for 2026-10")).to_be_visible()

    page.get_by_role("link", name="Invoices", exact=True).first.click()
    page.get_by_role("link", name="INV-2026-000001").click()
    expect(page.get_by_test_id("invoice-total")).to_have_text("KES 1,950.00")
    expect(page.get_by_text("Water 10–30 m³")).to_be_visible()
    page.screenshot(path=str(tmp_path / "invoice.png"), full_page=True)

    # The client sees the bill in the portal.
    page.context.clear_cookies()
    log_in(page, app_server, slug, f"client@{slug}.test")
    expect(page.get_by_test_id("portal-balance")).to_have_text("KES 1,950.00")
    page.get_by_role("link", name="View bill").click()
    expect(page.get_by_test_id("balance-due")).to_have_text("KES 1,950.00")
