"""The portal in Kiswahili on a phone (issue 21): a browser whose language is Kiswahili gets the
login page in Kiswahili; the client, who has chosen no language, logs in to a provider whose
default is Kiswahili and walks the portal in Kiswahili on a 390 px screen (nothing wider than the
screen), then switches to English from the footer, which is stored on their account."""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import tenant_context
from playwright.sync_api import Browser, expect

from tests.billing_helpers import own_provider
from tests.conftest import PASSWORD
from tests.e2e.conftest import AppServer

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def swahili_provider(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    from accounts.models import User
    from clients.models import Category, Client
    from tenants.models import Provider

    with own_provider(django_db_blocker, "swa", name="Maji Safi Kijiji") as made:
        with django_db_blocker.unblock():
            # A provider whose clients read Kiswahili unless they choose otherwise.
            Provider.objects.filter(pk=made.pk).update(language="sw")
        with django_db_blocker.unblock(), tenant_context(made):
            user = User.objects.create_user(f"client@{made.slug}.test", PASSWORD, full_name="Amina Njoroge",
                                            role="client")
            Client.objects.create(account_number="MSK001", full_name="Amina Njoroge", user=user,
                                  category=Category.objects.get(code="domestic"), phone="+254711333555")
        connection.set_schema_to_public()
        yield made


def test_the_portal_in_kiswahili_on_a_phone(browser: Browser, app_server: AppServer, swahili_provider,  # type: ignore[no-untyped-def]
                                            django_db_blocker, tmp_path) -> None:
    slug = swahili_provider.slug
    context = browser.new_context(locale="sw-KE", viewport=PHONE)  # Accept-Language: sw-KE
    page = context.new_page()
    page.goto(app_server.url(slug, "/accounts/login/"))
    expect(page.locator("html")).to_have_attribute("lang", "sw")
    expect(page.get_by_role("heading", name="Ingia")).to_be_visible()
    page.locator("input[name=username]").fill(f"client@{slug}.test")
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Ingia").click()

    expect(page.get_by_role("heading", name="Habari, Amina")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "sw")
    page.get_by_role("button", name="Muhimu pekee").click()  # the cookie notice, in Kiswahili too
    nav = page.locator(".portal-nav")
    for item in ("Akaunti yangu", "Matumizi", "Tuma usomaji wa mita", "Bili", "Lipa", "Ripoti tatizo"):
        expect(nav.get_by_role("link", name=item, exact=True)).to_be_attached()
    for path, heading in (("/portal/bills/", "Bili zangu"), ("/portal/reading/", "Tuma usomaji wa mita"),
                          ("/portal/statement/", "Taarifa ya akaunti yangu"), ("/portal/requests/", "Ripoti tatizo"),
                          ("/portal/pay/", "Lipa")):
        page.goto(app_server.url(slug, path))
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path  # fits the phone
    page.goto(app_server.url(slug, "/portal/reading/"))
    expect(page.get_by_role("button", name="Tuma usomaji")).to_be_visible()
    page.screenshot(path=str(tmp_path / "portal-kiswahili-phone.png"))

    # English from the footer's switch: stored on the account, so every later page is English.
    page.get_by_test_id("language-en").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Send a meter reading")).to_be_visible()
    with django_db_blocker.unblock(), tenant_context(swahili_provider):
        from clients.models import Client

        assert Client.objects.get(account_number="MSK001").language == "en"
    connection.set_schema_to_public()
    page.goto(app_server.url(slug, "/portal/"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    context.close()
