from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection, connections
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import AppServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def east_route(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Committed data the server process can see: zone 'east', four clients with meters."""
    from clients.models import Category, Client, Zone
    from meters.models import Meter, Reading
    from meters.services import meter_create
    from tenants.models import Provider

    with django_db_blocker.unblock():
        alpha = Provider.objects.get(slug="alpha")
        with tenant_context(alpha):
            zone = Zone.objects.create(code="east", name="East route")
            domestic = Category.objects.get(code="domestic")
            meters = []
            for i in range(1, 5):
                client = Client.objects.create(account_number=f"E{i:03d}", full_name=f"East Client {i}", zone=zone,
                                               category=domestic, location=f"Plot {i}")
                meters.append(meter_create(actor="e2e", serial=f"EM-{i}", client=client, installed_on=date(2025, 1, 1),
                                           initial_reading=Decimal("100")))
        connection.set_schema_to_public()
    yield meters
    with django_db_blocker.unblock():
        with tenant_context(alpha):
            Reading.objects.filter(meter__in=meters).delete()
            Meter.objects.filter(pk__in=[m.pk for m in meters]).delete()
            Client.objects.filter(zone=zone).delete()
            zone.delete()
        connection.set_schema_to_public()
        connections.close_all()


def test_a_meter_reader_walks_a_route_on_a_phone(page: Page, app_server: AppServer, east_route, tmp_path,  # type: ignore[no-untyped-def]
                                                django_db_blocker) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(app_server.url("alpha", "/accounts/login/"))
    page.get_by_label("Email").fill("ari@alpha.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(app_server.url("alpha", "/dashboard/"))

    page.goto(app_server.url("alpha", "/dashboard/readings/?zone=east"))
    first = page.get_by_label("Reading for meter EM-1")
    expect(first).to_be_focused()  # the sheet opens on the first meter still to read
    # Type each reading and press Enter: focus moves down the route.
    for serial, value in (("EM-1", "112.5"), ("EM-2", "99"), ("EM-3", "131.250")):
        box = page.get_by_label(f"Reading for meter {serial}")
        expect(box).to_be_focused()
        page.keyboard.type(value)
        page.keyboard.press("Enter")
    expect(page.get_by_label("Reading for meter EM-4")).to_be_focused()
    page.keyboard.type("104")
    page.screenshot(path=str(tmp_path / "sheet-phone-typed.png"), full_page=True)
    page.keyboard.press("Enter")  # the last Enter saves the sheet

    expect(page.get_by_role("status").first).to_contain_text("Saved 3 readings; 1 need correcting.")
    bad = page.locator(".sheet-row.err")
    expect(bad).to_have_count(1)
    expect(bad).to_contain_text("99.000 is lower than the previous reading")
    expect(page.locator(".sheet-row.done")).to_have_count(3)
    # Correct the one the reader mistyped and save again.
    page.get_by_label("Reading for meter EM-2").fill("109")
    page.get_by_role("button", name="Save readings").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved 1 reading")
    page.screenshot(path=str(tmp_path / "sheet-phone-saved.png"), full_page=True)

    from meters.models import Reading
    from tenants.models import Provider

    with django_db_blocker.unblock(), tenant_context(Provider.objects.get(slug="alpha")):
        saved = dict(Reading.objects.filter(meter__serial__startswith="EM-").values_list("meter__serial", "consumption"))
        recorded_by = set(Reading.objects.filter(meter__serial__startswith="EM-").values_list("recorded_by__email", flat=True))
    assert recorded_by == {"ari@alpha.test"}
    assert saved == {"EM-1": Decimal("12.500"), "EM-2": Decimal("9.000"), "EM-3": Decimal("31.250"),
                     "EM-4": Decimal("4.000")}


@pytest.fixture
def zoneless_provider(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """A provider of its own with no zones: two clients in no zone, with meters (committed)."""
    from clients.models import Category, Client
    from meters.services import meter_create
    from tests.billing_helpers import own_provider

    with own_provider(django_db_blocker, "nzn", name="Zoneless Water") as made:
        with django_db_blocker.unblock(), tenant_context(made):
            for i in (1, 2):
                client = Client.objects.create(account_number=f"N{i:03d}", full_name=f"Nozone Client {i}",
                                               category=Category.objects.get(code="domestic"))
                meter_create(actor="e2e", serial=f"NZ-{i}", client=client, installed_on=date(2025, 1, 1),
                             initial_reading=Decimal("50"))
        connection.set_schema_to_public()
        yield made


def test_a_provider_without_zones_captures_readings_on_a_phone(page: Page, app_server: AppServer,  # type: ignore[no-untyped-def]
                                                              zoneless_provider, tmp_path, django_db_blocker) -> None:
    slug = zoneless_provider.slug
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(app_server.url(slug, "/accounts/login/"))
    page.get_by_label("Email").fill(f"owner@{slug}.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(app_server.url(slug, "/dashboard/"))

    page.goto(app_server.url(slug, "/dashboard/readings/"))
    # No zones: the sheet opens on all clients, and "No zone" is one choice away.
    expect(page.get_by_label("Zone / route")).to_have_value("*all")
    expect(page.locator(".sheet-row")).to_have_count(2)
    page.get_by_label("Zone / route").select_option(label="No zone")
    expect(page).to_have_url(re.compile(r"/dashboard/readings/\?zone=(\*|%2A)none$"))
    expect(page.get_by_label("Reading for meter NZ-1")).to_be_focused()
    page.keyboard.type("61.5")
    page.keyboard.press("Enter")
    expect(page.get_by_label("Reading for meter NZ-2")).to_be_focused()
    page.keyboard.type("57")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    page.screenshot(path=str(tmp_path / "sheet-no-zone-phone.png"), full_page=True)
    page.keyboard.press("Enter")  # the last Enter saves the sheet
    expect(page.get_by_role("status").first).to_contain_text("Saved 2 readings")
    expect(page).to_have_url(re.compile(r"/dashboard/readings/\?zone=(\*|%2A)none$"))

    from meters.models import Reading

    with django_db_blocker.unblock(), tenant_context(zoneless_provider):
        saved = dict(Reading.objects.values_list("meter__serial", "consumption"))
    assert saved == {"NZ-1": Decimal("11.500"), "NZ-2": Decimal("7.000")}

    # One more from the meter's page (the register links it), on the same phone: below the last one.
    page.goto(app_server.url(slug, "/dashboard/meters/"))
    page.get_by_role("link", name="NZ-1").click()
    form = page.get_by_test_id("reading-form-NZ-1")
    expect(form.get_by_label("Date read")).to_have_value(re.compile(r"^\d{4}-\d{2}-\d{2}$"))
    form.get_by_label("Reading").fill("40")
    form.get_by_role("button", name="Save reading").click()
    expect(page.get_by_test_id("reading-error")).to_be_visible()
    expect(page.locator(".errorlist")).to_contain_text("40.000 is lower than the previous reading")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "reading-error-phone.png"), full_page=True)

    # And from the client's page: a good reading this time, saved, back on the client's page.
    page.get_by_role("link", name="Back").click()  # to the meter's page
    page.get_by_role("link", name="Client", exact=True).click()
    form = page.get_by_test_id("reading-form-NZ-1")
    form.get_by_label("Reading for meter NZ-1").fill("70")
    form.get_by_role("button", name="Save reading").click()
    expect(page.get_by_role("status").first).to_contain_text("Reading 70 m³ saved for meter NZ-1")
    expect(page.get_by_role("heading", name="Nozone Client 1")).to_be_visible()
    page.wait_for_function("document.documentElement.scrollWidth <= 390", timeout=3000)
    page.screenshot(path=str(tmp_path / "client-page-reading-phone.png"), full_page=True)
