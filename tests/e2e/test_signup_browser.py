from __future__ import annotations

import re

import pytest
from django.db import connection, connections
from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def cleanup_provider(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    slugs: list[str] = []
    yield slugs
    from tenants.models import Provider

    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        for provider in Provider.objects.filter(slug__in=slugs):
            provider.delete(force_drop=True)
        # Playwright runs this test in a greenlet with its own context, hence its own Django
        # connection: close it, or the test database cannot be dropped at the end.
        connections.close_all()


def test_a_new_provider_signs_up_and_reaches_its_dashboard(page: Page, app_server: AppServer, cleanup_provider, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cleanup_provider.append("kitui-water")
    page.goto(app_server.url())
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bill every drop")
    page.get_by_role("link", name="Create your provider account").click()

    page.get_by_label("Business name").fill("Kitui Water Project")
    page.get_by_label("Subdomain").fill("admin")  # reserved: the form comes back with the error
    page.get_by_label("Your full name").fill("Kamau Wekesa")
    page.get_by_label("Your email").fill("kamau@kitui.test")
    page.get_by_label("Your phone").fill("0712 345 678")
    page.get_by_label("Password", exact=True).fill("kitui-borehole-77")
    page.get_by_label("Confirm password").fill("kitui-borehole-77")
    page.get_by_label("I confirm I am 18 years of age or older").check()
    page.locator("#id_accept_terms").check()
    page.get_by_test_id("signup-submit").click()
    expect(page.locator(".errorlist")).to_contain_text("This subdomain is reserved")

    page.get_by_label("Subdomain").fill("kitui-water")
    page.get_by_label("Password", exact=True).fill("kitui-borehole-77")
    page.get_by_label("Confirm password").fill("kitui-borehole-77")
    page.get_by_test_id("signup-submit").click()

    expect(page).to_have_url(re.compile(rf"^http://kitui-water\.majismart\.localhost:{app_server.port}/dashboard/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Kamau")
    expect(page.locator(".provider-name")).to_have_text("Kitui Water Project")
    expect(page.get_by_role("status").first).to_contain_text("Your provider account is ready")
    page.screenshot(path=str(tmp_path / "dashboard-laptop.png"), full_page=True)

    # The owner finds the M-Pesa callback URLs and can mint an API key.
    page.locator(".sidebar").get_by_role("link", name="Settings").click()
    expect(page.locator("#mpesa")).to_contain_text("/payments/c2b/confirmation/")
    page.get_by_label("Name").fill("Field app")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_test_id("new-api-key")).to_have_text(re.compile(r"^mjs_[0-9a-f]{8}_\S+$"))

    # On a phone the navigation folds behind a menu button and still works.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(app_server.url("kitui-water", "/dashboard/"))
    sidebar_link = page.locator(".sidebar").get_by_role("link", name="Settings")
    expect(sidebar_link).not_to_be_in_viewport()
    page.get_by_label("Open menu").click()
    expect(sidebar_link).to_be_in_viewport()
    page.wait_for_timeout(300)  # let the slide-in finish for the screenshot
    page.screenshot(path=str(tmp_path / "dashboard-phone.png"))


def test_a_suspended_provider_shows_its_page_in_the_browser(page: Page, app_server: AppServer) -> None:
    response = page.goto(app_server.url("gamma"))
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Gamma Wells is temporarily unavailable")
