"""A manager adds a zone's bulk meter on a phone: choosing "bulk" swaps the client's account
number for the zone (static/js/ui.js, data-show-when), and the meter is saved on the zone."""

from __future__ import annotations

import pytest
from django.db import connection, connections
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import AppServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def west_zone(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Committed data the server process can see: zone 'west-bulk'; its bulk meter goes afterwards."""
    from clients.models import Zone
    from meters.models import Meter
    from tenants.models import Provider

    with django_db_blocker.unblock():
        alpha = Provider.objects.get(slug="alpha")
        with tenant_context(alpha):
            zone = Zone.objects.create(code="west-bulk", name="West bulk route")
        connection.set_schema_to_public()
    yield zone
    with django_db_blocker.unblock():
        with tenant_context(alpha):
            Meter.objects.filter(zone=zone).delete()
            zone.delete()
        connection.set_schema_to_public()
        connections.close_all()


def test_a_manager_adds_a_bulk_meter_for_a_zone_on_a_phone(page: Page, app_server: AppServer, west_zone,  # type: ignore[no-untyped-def]
                                                           django_db_blocker) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(app_server.url("alpha", "/accounts/login/"))
    page.get_by_label("Email").fill("amos@alpha.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(app_server.url("alpha", "/dashboard/"))

    page.goto(app_server.url("alpha", "/dashboard/meters/"))
    page.get_by_role("link", name="New bulk meter").click()
    expect(page.get_by_label("Kind of meter")).to_have_value("bulk")
    expect(page.get_by_label("Client")).to_be_hidden()
    page.get_by_label("Kind of meter").select_option("client")
    expect(page.get_by_label("Client")).to_be_visible()
    expect(page.get_by_label("Zone")).to_be_hidden()
    page.get_by_label("Kind of meter").select_option("bulk")
    expect(page.get_by_label("Client")).to_be_hidden()
    page.get_by_label("Serial").fill("wb-1")
    page.get_by_label("Zone").select_option("west-bulk")
    page.get_by_role("button", name="Save meter").click()
    expect(page.get_by_test_id("meter-kind")).to_contain_text("Bulk (zone) meter")
    expect(page.locator("h1")).to_contain_text("WB-1")

    from meters.models import Meter
    from tenants.models import Provider

    with django_db_blocker.unblock():
        with tenant_context(Provider.objects.get(slug="alpha")):
            meter = Meter.objects.get(serial="WB-1")
            assert (meter.kind, meter.zone_id, meter.client_id) == ("bulk", west_zone.pk, None)
        connection.set_schema_to_public()
