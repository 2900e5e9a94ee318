"""Messages in a real browser on a phone-sized screen: an owner rewords the bill SMS watching
its size and cost as it is typed, broadcasts a supply interruption to one zone and follows it to
the end (through the Africa's Talking stand-in over HTTP), and a client chooses in the portal
which messages they get."""

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


@pytest.fixture
def messaging_provider(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """A provider of its own with SMS set up on the stand-in, two zones and three clients."""
    from accounts.models import User
    from clients.models import Category, Client, Zone
    from tests.notifications_helpers import sms_ready

    with own_provider(django_db_blocker, "msg", name="Maji Messages") as made:
        with django_db_blocker.unblock(), tenant_context(made):
            sms_ready(at_username=made.slug)
            hill, valley = Zone.objects.create(code="hill", name="Hill"), Zone.objects.create(code="valley", name="Valley")
            domestic = Category.objects.get(code="domestic")
            for n, zone in ((1, hill), (2, hill), (3, valley)):
                Client.objects.create(account_number=f"M00{n}", full_name=f"Client {n}", category=domestic, zone=zone,
                                      phone=f"+25471100000{n}")
            client = Client.objects.get(account_number="M001")
            client.user = User.objects.create_user(f"client@{made.slug}.test", PASSWORD, full_name="Client 1", role="client")
            client.save()
        connection.set_schema_to_public()
        yield made


def test_an_owner_words_a_template_and_broadcasts_to_a_zone(page: Page, app_server: AppServer, messaging_provider,
                                                            africastalking_session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    slug = messaging_provider.slug
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, app_server, slug, f"owner@{slug}.test")
    page.goto(app_server.url(slug, "/dashboard/messages/templates/"))
    expect(page.get_by_test_id("template-invoice_issued-sms-en")).to_contain_text("Maji Messages:")
    page.get_by_test_id("template-invoice_issued-sms-en").get_by_role("link", name="Edit").click()

    body = page.get_by_role("textbox", name="Message")
    body.fill("{provider}: bill {amount_due} due {due_date}. {pay_link}")
    expect(page.get_by_test_id("sms-counter")).to_contain_text("1 part")
    body.fill("€" * 81)  # the euro sign takes two of the 160: two parts
    expect(page.get_by_test_id("sms-counter")).to_contain_text("162 characters · GSM-7 · 2 parts")
    body.fill("Habari {name}! Bill {amount_due} due {due_date}. Pay: {pay_link}")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("preview-text")).to_contain_text("Habari Esther Njeri! Bill KES 2,448.75 due 16 Nov 2026.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("template-invoice_issued-sms-en")).to_contain_text("Your wording")
    page.screenshot(path=str(tmp_path / "templates.png"), full_page=True)

    page.get_by_role("link", name="Broadcasts").click()
    page.get_by_label("Title (for your records)").fill("Hill mains repair")
    page.get_by_label("Zones (none: all)").select_option("hill")
    page.locator("#sms_text").fill("{provider}: no water on the Hill on Friday 9-3 (mains repair).")
    page.get_by_role("button", name="See who receives it").click()
    expect(page.get_by_test_id("estimate")).to_contain_text("2 clients · 2 SMS of 1 part, about KES 1.60")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("broadcast-state")).to_contain_text("Done: 2 messages", timeout=15000)
    page.screenshot(path=str(tmp_path / "broadcast.png"), full_page=True)
    sent = [m for m in africastalking_session.messages if m["username"] == slug]
    assert sorted(m["number"] for m in sent) == ["+254711000001", "+254711000002"]
    assert all(m["message"] == "Maji Messages: no water on the Hill on Friday 9-3 (mains repair)." for m in sent)

    page.goto(app_server.url(slug, "/dashboard/messages/"))
    expect(page.get_by_text("+2547•••001")).to_be_visible()

    # The client sees the announcement and turns SMS off.
    page.context.clear_cookies()
    log_in(page, app_server, slug, f"client@{slug}.test")
    page.get_by_role("link", name="Messages", exact=True).click()
    expect(page.get_by_text("no water on the Hill")).to_be_visible()
    page.get_by_label("SMS about my account and supply").uncheck()
    page.get_by_role("button", name="Save my choices").click()
    expect(page.get_by_text("Your choices are saved.")).to_be_visible()
    expect(page.get_by_label("SMS about my account and supply")).not_to_be_checked()
