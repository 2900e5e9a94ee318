"""Pages on a phone-sized screen (390 px): the portal's header keeps to two rows with a menu
that scrolls sideways; the audit log shows each event as a card that says what happened in
words; the retention page previews the periods typed in the form without saving them."""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from tests.billing_helpers import own_provider
from tests.conftest import PASSWORD
from tests.e2e.conftest import AppServer
from tests.e2e.test_billing_wizard_browser import log_in

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone_provider(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    from accounts.models import User
    from accounts.services import audit
    from clients.models import Category, Client

    with own_provider(django_db_blocker, "phn", name="Maji ya Kijiji Community Water Project") as made:
        with django_db_blocker.unblock(), tenant_context(made):
            user = User.objects.create_user(f"client@{made.slug}.test", PASSWORD, full_name="Achieng Otieno",
                                            role="client")
            client = Client.objects.create(account_number="K001", full_name="Achieng Otieno", user=user,
                                           category=Category.objects.get(code="domestic"), phone="+254711222444")
            audit(actor=f"owner@{made.slug}.test", action="statement.exported", target=client, object_repr="K001",
                  format="pdf")
            audit(actor=f"owner@{made.slug}.test", action="privacy.retention.settings_changed",
                  object_repr="retention", before={"audit_months": 12}, after={"audit_months": 24})
        connection.set_schema_to_public()
        yield made


def _on_a_phone_as(page: Page, app_server: AppServer, provider, who: str) -> str:  # type: ignore[no-untyped-def]
    """Logged in on a phone-sized screen, the cookie question answered; returns the slug."""
    page.set_viewport_size(PHONE)
    log_in(page, app_server, provider.slug, f"{who}@{provider.slug}.test")
    page.get_by_role("button", name="Essential only").click()
    expect(page.get_by_role("button", name="Essential only")).to_be_hidden()
    return provider.slug


def test_the_portal_header_is_two_rows_with_a_sideways_menu(page: Page, app_server: AppServer,
                                                            phone_provider, tmp_path) -> None:  # type: ignore[no-untyped-def]
    slug = _on_a_phone_as(page, app_server, phone_provider, "client")
    page.goto(app_server.url(slug, "/portal/privacy/"))
    brand = page.locator(".portal-header .brand").bounding_box()
    logout = page.get_by_role("button", name="Log out").bounding_box()
    nav = page.locator(".portal-nav")
    box = nav.bounding_box()
    assert brand and logout and box
    assert abs((brand["y"] + brand["height"] / 2) - (logout["y"] + logout["height"] / 2)) < 8  # one row
    assert box["y"] >= logout["y"] + logout["height"] - 1 and box["height"] < 60  # the menu: one row below
    assert page.locator(".portal-header").bounding_box()["height"] < 130  # type: ignore[index]
    assert nav.evaluate("n => n.scrollWidth > n.clientWidth")  # it scrolls sideways...
    active = page.locator(".portal-nav a.active").bounding_box()  # ...and the current page's item is in view
    assert active and active["x"] >= 0 and active["x"] + active["width"] <= PHONE["width"]
    expect(page.locator(".portal-nav a.active")).to_have_text("Privacy")
    page.screenshot(path=str(tmp_path / "portal-phone.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no page-wide sideways scroll


def test_the_audit_log_and_retention_preview_on_a_phone(page: Page, app_server: AppServer,
                                                         phone_provider, tmp_path) -> None:  # type: ignore[no-untyped-def]
    slug = _on_a_phone_as(page, app_server, phone_provider, "owner")
    page.goto(app_server.url(slug, "/dashboard/audit/"))
    row = page.get_by_test_id("audit-row").filter(has_text="Changed retention periods")
    expect(row).to_contain_text("audit months: 12 → 24")
    expect(page.get_by_test_id("audit-row").filter(has_text="Downloaded a statement")).to_contain_text("Format: pdf")
    header = page.locator("table.stack-sm thead").bounding_box()
    assert header and header["height"] <= 1  # out of sight, still read out: the cells keep their headers
    expect(page.get_by_role("columnheader", name="Details")).to_have_count(1)
    # Cards by CSS, still a table to a screen reader (Safari drops that for display: block).
    assert page.locator("table.stack-sm").get_attribute("role") == "table"
    assert row.get_attribute("role") == "row"
    assert row.locator('td[data-label="Details"]').get_attribute("role") == "cell"
    assert page.locator("table.stack-sm th").first.get_attribute("role") == "columnheader"
    details = row.locator('td[data-label="Details"]').bounding_box()
    assert details and details["width"] > PHONE["width"] * 0.6  # a card: every cell has the row's width
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "audit-phone.png"), full_page=True)

    page.goto(app_server.url(slug, "/dashboard/privacy/retention/"))
    page.get_by_label("Raw payment callbacks").fill("30")
    page.get_by_test_id("retention-preview").click()
    result = page.get_by_test_id("retention-preview-result")
    expect(result).to_contain_text("would be removed today under the periods in the form")
    expect(result).to_be_in_viewport()  # the answer is where the phone shows it, not below the form
    expect(page.get_by_test_id("retention-unsaved")).to_contain_text("Raw payment callbacks")
    expect(page.get_by_label("Raw payment callbacks")).to_have_value("30")  # kept, not saved
    page.screenshot(path=str(tmp_path / "retention-phone.png"), full_page=True)
    page.goto(app_server.url(slug, "/dashboard/privacy/retention/"))
    expect(page.get_by_label("Raw payment callbacks")).to_have_value("90")


def test_side_by_side_fields_line_up_and_stack_on_a_phone(page: Page, app_server: AppServer,
                                                         phone_provider) -> None:  # type: ignore[no-untyped-def]
    slug = _on_a_phone_as(page, app_server, phone_provider, "owner")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(app_server.url(slug, "/dashboard/payments/statement/"))
    date_from, date_to = page.get_by_label("From").bounding_box(), page.get_by_label("To").bounding_box()
    assert date_from and date_to
    # Side by side on a laptop, the boxes level although only "To" has a help text under it.
    assert abs(date_from["y"] - date_to["y"]) < 1 and date_to["x"] > date_from["x"] + date_from["width"]
    assert abs(date_from["height"] - date_to["height"]) < 1
    page.set_viewport_size(PHONE)
    date_from, date_to = page.get_by_label("From").bounding_box(), page.get_by_label("To").bounding_box()
    assert date_from and date_to and date_to["y"] > date_from["y"] + date_from["height"]  # one under the other
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
