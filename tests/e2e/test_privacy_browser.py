"""The privacy centre in a real browser on a phone-sized screen: a client downloads a copy of
their data, withdraws consent, asks for a correction and for deletion; the owner answers the
correction from the request queue and carries out the erasure; the client's login is gone and
the account's books are kept under a pseudonym."""

from __future__ import annotations

import io
import json
import zipfile

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
def privacy_provider(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    from accounts.models import User
    from clients.models import Category, Client

    with own_provider(django_db_blocker, "prv", name="Maji Privacy") as made:
        with django_db_blocker.unblock(), tenant_context(made):
            domestic = Category.objects.get(code="domestic")
            user = User.objects.create_user(f"client@{made.slug}.test", PASSWORD, full_name="Wanjiku Mwangi",
                                            role="client")
            Client.objects.create(account_number="P001", full_name="Wanjiku Mwangi", category=domestic,
                                  phone="+254711222333", email="wanjiku@example.com", location="Plot 9", user=user)
            Client.objects.create(account_number="P002", full_name="Otieno Other", category=domestic,
                                  phone="+254722999888")
        connection.set_schema_to_public()
        yield made


def test_a_client_uses_the_privacy_centre_and_the_owner_answers(page: Page, app_server: AppServer,
                                                                privacy_provider, django_db_blocker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    slug = privacy_provider.slug
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, app_server, slug, f"client@{slug}.test")
    page.get_by_role("button", name="Essential only").click()
    page.get_by_role("link", name="Privacy", exact=True).click()
    expect(page.get_by_role("heading", name="Your privacy")).to_be_visible()

    # A copy of my data: prepared by a task, then downloaded.
    page.get_by_role("button", name="Prepare my data").click()
    expect(page.get_by_text("We are preparing your data.")).to_be_visible()
    with page.expect_download() as info:
        page.get_by_role("link", name="Download zip").click(timeout=15000)
    archive = zipfile.ZipFile(io.BytesIO(open(info.value.path(), "rb").read()))
    profile = json.loads(archive.read("json/profile.json"))
    assert [(p["account_number"], p["full_name"], p["phone"]) for p in profile] == [("P001", "Wanjiku Mwangi",
                                                                                      "+254711222333")]
    assert b"Otieno" not in b"".join(archive.read(n) for n in archive.namelist())

    # Withdraw consent to email (and keep SMS).
    choices = page.get_by_role("form", name="What you agree to")
    choices.get_by_label("Email about my account and supply").uncheck()
    choices.get_by_role("button", name="Save my choices").click()
    expect(page.get_by_text("Your choices are saved.")).to_be_visible()
    expect(choices.get_by_label("Email about my account and supply")).not_to_be_checked()

    # Ask for a correction; the form says what is missing first.
    page.get_by_text("Correct my details").click()
    page.get_by_role("button", name="Send correction").click()
    expect(page.get_by_text("Tell us what is wrong and what it should say.")).to_be_visible()
    page.get_by_label("What is wrong, and what should it say?").fill("My plot is 19, not 9.")
    page.get_by_role("button", name="Send correction").click()
    expect(page.get_by_text("Your correction request is sent.")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="My plot is 19, not 9.")).to_contain_text("Open")

    # Ask for deletion.
    page.get_by_text("Delete my data").click()
    page.get_by_label("I want my personal data erased.").check()
    page.get_by_role("button", name="Request deletion").click()
    expect(page.get_by_text("Your deletion request is sent.")).to_be_visible()
    page.screenshot(path=str(tmp_path / "privacy-centre.png"), full_page=True)

    # The owner answers from the queue.
    page.context.clear_cookies()
    log_in(page, app_server, slug, f"owner@{slug}.test")
    page.goto(app_server.url(slug, "/dashboard/privacy/requests/"))
    page.get_by_role("button", name="Essential only").click()  # the cookie notice, fresh after clearing cookies
    expect(page.get_by_text("2 open")).to_be_visible()
    page.get_by_role("link", name="Correction").click()
    expect(page.get_by_text("My plot is 19, not 9.")).to_be_visible()
    page.get_by_label("What was done — the client sees this").fill("Plot corrected to 19.")
    page.get_by_role("button", name="Close request").click()
    expect(page.get_by_text("The request is closed.")).to_be_visible()
    page.get_by_role("link", name="Deletion").click()
    page.get_by_label("Type the account number").fill("P001")
    page.get_by_role("button", name="Erase personal data").click()
    expect(page.get_by_text("Personal data erased; the records kept are filed under PSN-")).to_be_visible()
    page.screenshot(path=str(tmp_path / "privacy-request.png"), full_page=True)

    # The client's login no longer works.
    page.context.clear_cookies()
    log_in(page, app_server, slug, f"client@{slug}.test")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    from clients.models import Client

    with django_db_blocker.unblock(), tenant_context(privacy_provider):
        erased = Client.objects.get(account_number="P001")
        assert erased.full_name.startswith("Erased client PSN-") and erased.phone == "" and erased.user_id is None
        assert Client.objects.get(account_number="P002").full_name == "Otieno Other"
    connection.set_schema_to_public()
