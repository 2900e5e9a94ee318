"""In a real browser on a phone-sized screen: a client opens their own portal login (the code
arrives by SMS through the Africa's Talking stand-in), answers the cookie notice, and after a new
privacy policy is published is asked to accept it at their next login."""

from __future__ import annotations

import re
import time

import pytest
from django.db import connection
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from tests.billing_helpers import own_provider
from tests.e2e.conftest import AppServer

pytestmark = pytest.mark.e2e

PHONE = "+254711222333"
PASSWORD = "river-stone-42"


@pytest.fixture
def registering_provider(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """A provider with SMS on the stand-in and one client without a login."""
    from clients.models import Category, Client
    from tests.notifications_helpers import sms_ready

    with own_provider(django_db_blocker, "reg", name="Maji Registration") as made:
        with django_db_blocker.unblock(), tenant_context(made):
            sms_ready(at_username=made.slug)
            Client.objects.create(account_number="R00042", full_name="Esther Njeri", phone=PHONE,
                                  category=Category.objects.get(code="domestic"))
        connection.set_schema_to_public()
        yield made


@pytest.fixture
def new_privacy_version(django_db_blocker):  # type: ignore[no-untyped-def]
    """Publishes a new privacy policy when called (committed, as an admin would); removed afterwards
    with the notices it made, so no other test meets it."""
    made = []

    def publish():  # type: ignore[no-untyped-def]
        from tenants.models import PolicyVersion
        from tenants.services import policy_version_publish

        with django_db_blocker.unblock():
            connection.set_schema_to_public()
            draft = PolicyVersion.objects.create(kind="privacy", version="2026-12-02", title="Privacy policy",
                                                 summary="Payment callbacks are now kept for 90 days.",
                                                 body="## Callbacks\n\nKept for 90 days after processing.")
            made.append(policy_version_publish(version=draft, actor="root@platform.test"))
            connection.set_schema_to_public()
        return made[-1]

    yield publish
    if made:
        from notifications.models import Message
        from tenants.models import PolicyVersion
        from tenants.selectors import active_providers, policy_cache_clear

        with django_db_blocker.unblock():
            connection.set_schema_to_public()
            for provider in active_providers():
                with tenant_context(provider):
                    Message.objects.filter(event="policy_changed").delete()
            connection.set_schema_to_public()
            PolicyVersion.objects.filter(pk__in=[v.pk for v in made]).delete()
            policy_cache_clear()


def sms_code(standin, slug: str) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for message in standin.messages:
            if message["username"] == slug and message["number"] == PHONE:
                return re.search(r"\b(\d{6})\b", message["message"]).group(1)  # type: ignore[union-attr]
        time.sleep(0.2)
    raise AssertionError("no registration code was texted")


def test_a_client_registers_answers_the_cookie_notice_and_accepts_a_new_policy(
        page: Page, app_server: AppServer, registering_provider, africastalking_session, new_privacy_version,
        django_db_blocker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from accounts.models import User
    from notifications.models import Consent
    from privacy.models import PolicyAcceptance

    slug = registering_provider.slug
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(app_server.url(slug, "/accounts/login/"))
    expect(page.get_by_test_id("cookie-banner")).to_be_visible()
    page.get_by_role("link", name="Open your online account").click()
    page.get_by_label("Account number").fill("r00042")
    page.get_by_label("Phone number or email on your account").fill("0711 222 333")
    page.get_by_role("button", name="Send me a code").click()
    expect(page.get_by_text("we have sent a 6-digit code")).to_be_visible()

    page.get_by_label("6-digit code").fill(sms_code(africastalking_session, slug))
    page.get_by_label("Your email (you log in with it)").fill("esther@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_role("button", name="Open my account").click()
    expect(page.get_by_text("You must be 18 or older to open an online account.")).to_be_visible()
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_label("I am 18 or older").check()
    page.locator("#id_accept").check()
    page.get_by_role("button", name="Open my account").click()
    expect(page).to_have_url(re.compile(r"/portal/$"))
    expect(page.get_by_test_id("footer-privacy")).to_contain_text("Privacy policy (2026-11-23)")
    page.screenshot(path=str(tmp_path / "registered.png"), full_page=True)

    # The cookie notice, answered without a page load (its script posts the choice).
    page.get_by_test_id("cookie-banner").get_by_role("button", name="Allow analytics").click()
    expect(page.get_by_test_id("cookie-banner")).to_have_count(0)
    assert any(c["name"] == "cookie_consent" and c["value"] == "analytics" for c in page.context.cookies())
    with django_db_blocker.unblock(), tenant_context(registering_provider):
        client_user = User.objects.get(email="esther@example.com")
        assert {(a.kind, a.source) for a in PolicyAcceptance.objects.filter(user_id=client_user.pk)} == {
            ("privacy", "registration"), ("terms", "registration")}
        consent = Consent.objects.get(topic="analytics")
        assert (consent.granted, consent.source, consent.policy_version) == (True, "cookie_banner", "2026-11-23")
    connection.set_schema_to_public()

    # A new privacy policy: at the next login the client reads what changed and accepts it.
    new_privacy_version()
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Email").fill("esther@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="We have updated our terms")).to_be_visible()
    expect(page.get_by_test_id("pending-privacy")).to_contain_text("Payment callbacks are now kept for 90 days.")
    page.screenshot(path=str(tmp_path / "accept.png"), full_page=True)
    page.get_by_role("button", name="I accept").click()
    expect(page).to_have_url(re.compile(r"/portal/$"))
    expect(page.get_by_text("your acceptance is recorded")).to_be_visible()
    with django_db_blocker.unblock(), tenant_context(registering_provider):
        assert PolicyAcceptance.objects.filter(user_id=client_user.pk, kind="privacy", version="2026-12-02",
                                               source="login").exists()
    connection.set_schema_to_public()
