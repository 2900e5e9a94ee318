"""A field officer on a phone: their list of work orders by zone, an order's page with the meter,
the account and the balance, completed with a reading and a photo of the dial; the client is
disconnected and the order leaves the list."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection, connections
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from tests.accounts.test_authorization_matrix import PNG
from tests.conftest import PASSWORD
from tests.e2e.conftest import AppServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def field_order(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Committed data the server can see: a client in zone 'Kisauni' with a read meter and a
    disconnection order assigned to Ari."""
    from accounts.models import User
    from clients.models import Category, Client, Zone
    from fieldwork.models import ServiceRequest, ServiceRequestEvent, WorkOrder
    from fieldwork.services import service_request_create, work_order_open
    from meters.models import Meter, Reading
    from meters.services import meter_create, readings_record
    from tenants.models import Provider

    with django_db_blocker.unblock():
        alpha = Provider.objects.get(slug="alpha")
        with tenant_context(alpha):
            zone = Zone.objects.create(code="kisauni", name="Kisauni")
            client = Client.objects.create(account_number="FW001", full_name="Field Client", zone=zone,
                                           category=Category.objects.get(code="domestic"), location="Plot 9, Kisauni",
                                           user=User.objects.get(email="carol@alpha.test"))
            meter = meter_create(actor="e2e", serial="FWM-1", client=client, installed_on=date(2025, 1, 1),
                                 initial_reading=Decimal("100"))
            readings_record([{"meter": "FWM-1", "value": "150", "read_at": "2026-10-31T09:00:00+03:00"}], source="api")
            order = work_order_open(client=client, kind="disconnect", due_on=date(2026, 11, 24),
                                    balance=Decimal("3250.00"), instructions="Behind the mosque, green gate")
            WorkOrder.objects.filter(pk=order.pk).update(assigned_to=User.objects.get(email="ari@alpha.test"))
            request = service_request_create(client=client, kind="no_water", actor="e2e", channel="phone",
                                             description="No water in the whole compound since Monday morning")
            order.page_request = request
        connection.set_schema_to_public()
    yield order
    with django_db_blocker.unblock():
        with tenant_context(alpha):
            WorkOrder.objects.filter(client=client).delete()
            ServiceRequestEvent.objects.filter(request__client=client).delete()
            ServiceRequest.objects.filter(client=client).delete()
            Reading.objects.filter(meter=meter).delete()
            Meter.objects.filter(pk=meter.pk).delete()
            client.delete()
            zone.delete()
        connection.set_schema_to_public()
        connections.close_all()


def test_a_field_officer_completes_a_disconnection_on_a_phone(page: Page, app_server: AppServer, field_order,  # type: ignore[no-untyped-def]
                                                            django_db_blocker, tmp_path) -> None:
    _log_in(page, app_server, "ari@alpha.test")

    page.goto(app_server.url("alpha", "/dashboard/field/"))
    item = page.get_by_test_id(f"order-{field_order.reference}")
    expect(item).to_contain_text("FW001")
    expect(item).to_contain_text("FWM-1")
    expect(page.get_by_test_id("zone").filter(has=item)).to_contain_text("Kisauni")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    item.get_by_role("link").click()

    expect(page.get_by_test_id("order-meter")).to_have_text("FWM-1")
    expect(page.get_by_test_id("order-balance")).to_contain_text("KES 3,250.00")
    expect(page.get_by_text("Behind the mosque, green gate")).to_be_visible()
    # A reading below the meter's last is refused with the readings pipeline's message.
    page.get_by_label("Meter reading (m³)").fill("120")
    page.get_by_role("button", name="Mark done").click()
    expect(page.get_by_text("is lower than the previous reading")).to_be_visible()
    page.get_by_label("Meter reading (m³)").fill("162.5")
    page.get_by_label("Note").fill("Locked at the stopcock")
    page.get_by_label("Photo").set_input_files({"name": "dial.png", "mimeType": "image/png", "buffer": PNG})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "work-order-phone.png"), full_page=True)
    page.get_by_role("button", name="Mark done").click()

    expect(page).to_have_url(app_server.url("alpha", "/dashboard/field/"))
    expect(page.get_by_role("status").first).to_contain_text(f"Work order {field_order.reference} completed")
    expect(page.get_by_test_id(f"order-{field_order.reference}")).to_have_count(0)

    from clients.models import Client
    from fieldwork.models import WorkOrder
    from tenants.models import Provider

    with django_db_blocker.unblock(), tenant_context(Provider.objects.get(slug="alpha")):
        order = WorkOrder.objects.select_related("reading").get(pk=field_order.pk)
        assert order.status == "done" and order.reading.value == Decimal("162.500") and order.photo
        assert Client.objects.get(pk=order.client_id).status == "disconnected"
    connection.set_schema_to_public()


def _log_in(page: Page, app_server: AppServer, email: str) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(app_server.url("alpha", "/accounts/login/"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(app_server.url("alpha", "/accounts/login/"))


def test_the_field_work_pages_fit_a_phone(page: Page, app_server: AppServer, field_order) -> None:  # type: ignore[no-untyped-def]
    from tests.e2e.test_phone_layouts_browser import CHECK_JS

    request = field_order.page_request
    _log_in(page, app_server, "alice@alpha.test")
    problems = {}
    for path in ("/dashboard/requests/", f"/dashboard/requests/{request.pk}/", "/dashboard/requests/new/",
                 "/dashboard/requests/service-levels/",
                 "/dashboard/field/", "/dashboard/work-orders/", f"/dashboard/work-orders/{field_order.pk}/",
                 f"/dashboard/clients/{field_order.client_id}/"):
        response = page.goto(app_server.url("alpha", path))
        assert response is not None and response.status == 200, path
        found = page.evaluate(CHECK_JS)
        if found:
            problems[path] = found
    expect(page.get_by_test_id("client-field-work")).to_contain_text(request.reference)
    page.context.clear_cookies()
    _log_in(page, app_server, "carol@alpha.test")
    page.goto(app_server.url("alpha", "/portal/requests/"))
    expect(page.get_by_test_id(f"my-request-{request.reference}")).to_contain_text("No water")
    page.get_by_label("What is the problem?").select_option("leak")
    page.get_by_label("Tell us more").fill("Water gushing at the meter")
    page.get_by_label("Photo").set_input_files({"name": "leak.png", "mimeType": "image/png", "buffer": PNG})
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status").first).to_contain_text("was received")
    found = page.evaluate(CHECK_JS)
    if found:
        problems["/portal/requests/"] = found
    assert not problems, problems
