"""A client opens a leak alert's link on a phone, without logging in, and reports the leak:
the page fits the screen, pressing the button makes one service request, and staff see the
alert and the request on the client page."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from tests.billing_helpers import own_provider
from tests.e2e.conftest import AppServer
from tests.e2e.test_billing_wizard_browser import log_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def leaking(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """A provider of its own with one client whose September reading is a spike (25 m³ against
    10 m³ a month before): its alert is open and its link made."""
    from clients.models import Category, Client
    from meters.alerts import leak_link_token
    from meters.models import LeakEpisode
    from meters.services import meter_create, readings_record

    with own_provider(django_db_blocker, "leak", name="Leak Water") as made:
        with django_db_blocker.unblock(), tenant_context(made):
            client = Client.objects.create(account_number="L001", full_name="Leaking Client",
                                           category=Category.objects.get(code="domestic"), phone="+254712345670")
            meter = meter_create(actor="e2e", serial=f"LM-{made.slug}", client=client, installed_on=date(2026, 5, 2))
            days = ["2026-06-01", "2026-07-01", "2026-07-31", "2026-08-30", "2026-09-29"]
            values = ["10", "20", "30", "40", "65"]
            assert readings_record([{"meter": meter.serial, "value": v, "read_at": f"{d}T09:00:00+03:00"}
                                    for v, d in zip(values, days, strict=True)], source="api").errors == []
            episode = LeakEpisode.objects.get(meter=meter)
            made.leak_token, made.client_pk = leak_link_token(episode), client.pk
        connection.set_schema_to_public()
        yield made


def test_a_client_reports_a_leak_from_the_alert_link_on_a_phone(page: Page, app_server: AppServer, leaking,
                                                                 tmp_path) -> None:  # type: ignore[no-untyped-def]
    slug = leaking.slug
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(app_server.url(slug, f"/leak/{leaking.leak_token}/"))
    expect(page.get_by_role("heading", name="Possible leak")).to_be_visible()
    expect(page.get_by_test_id("leak-m3")).to_have_text("25.000 m³")
    expect(page.get_by_test_id("leak-account")).to_have_text("L001")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the phone
    page.screenshot(path=str(tmp_path / "alert.png"), full_page=True)
    page.get_by_label("Anything to add (optional)").fill("Water on the path by the meter")
    page.get_by_role("button", name="Report it as a leak").click()
    expect(page.get_by_test_id("leak-reported")).to_contain_text("SR-")
    reference = page.get_by_test_id("leak-reported").locator("strong").inner_text()
    page.reload()  # and again: the same report, no second one
    expect(page.get_by_test_id("leak-reported")).to_contain_text(reference)
    expect(page.get_by_test_id("leak-form")).to_have_count(0)

    log_in(page, app_server, slug, f"owner@{slug}.test")
    page.goto(app_server.url(slug, f"/dashboard/clients/{leaking.client_pk}/"))
    alerts = page.get_by_test_id("client-leak-alerts")
    expect(alerts).to_contain_text("25.000")
    expect(alerts).to_contain_text(reference)
    expect(page.get_by_test_id("client-field-work")).to_contain_text(reference)
    alerts.get_by_role("button", name="Close alert").click()
    expect(page.get_by_test_id("client-leak-alerts")).to_contain_text("Closed")
