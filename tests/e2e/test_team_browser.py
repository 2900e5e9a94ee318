"""In a real browser: the owner invites a meter reader from Settings → Team; the invitation link,
read from the email the server sent, is opened in a fresh browser; the new reader sets a name
and password, lands on the dashboard, enters a reading on the route sheet, and no link in the
sidebar or on the home page answers them 403."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from urllib.parse import urljoin, urlparse

import pytest
from django.db import connection, connections
from django_tenants.utils import tenant_context
from playwright.sync_api import Browser, Page, expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import AppServer

pytestmark = pytest.mark.e2e

INVITEE = "wanjiku.reader@example.com"
INVITEE_PASSWORD = "tana-river-2026-reader"
LINK_RE = re.compile(r"(https?://\S+/accounts/invite/[^/\s]+/)")
# Links this branch still shows a meter reader although their role cannot open them: the sidebar
# and the home page are being fixed on other branches (issue #17, "every link works for whoever
# sees it"). Once those land both sets must be empty.
SIDEBAR_403_NOT_YET_FIXED: set[str] = set()
HOME_403_NOT_YET_FIXED: set[str] = set()


@pytest.fixture
def team_route(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Committed data the server process can see: zone 'team' with one client and meter; the
    invited person is removed afterwards."""
    from accounts.models import StaffInvite, User
    from clients.models import Category, Client, Zone
    from meters.models import Meter, Reading
    from meters.services import meter_create
    from tenants.models import Provider

    with django_db_blocker.unblock():
        alpha = Provider.objects.get(slug="alpha")
        with tenant_context(alpha):
            zone = Zone.objects.create(code="team", name="Team route")
            client = Client.objects.create(account_number="T001", full_name="Team Client", zone=zone,
                                           category=Category.objects.get(code="domestic"), location="Plot 9")
            meter = meter_create(actor="e2e", serial="TM-1", client=client, installed_on=date(2025, 1, 1),
                                 initial_reading=Decimal("100"))
        connection.set_schema_to_public()
    yield meter
    with django_db_blocker.unblock():
        with tenant_context(alpha):
            Reading.objects.filter(meter=meter).delete()
            Meter.objects.filter(pk=meter.pk).delete()
            Client.objects.filter(pk=client.pk).delete()
            zone.delete()
            StaffInvite.objects.filter(email=INVITEE).delete()
            User.objects.filter(email=INVITEE).delete()
        connection.set_schema_to_public()
        connections.close_all()


def _invite_link(app_server: AppServer) -> str:
    mail = app_server.mail()
    blocks = [b for b in mail.split("-" * 79) if f"To: {INVITEE}" in b]
    assert blocks, "no invitation email was sent"
    match = LINK_RE.search(blocks[-1])
    assert match, blocks[-1]
    return match.group(1)


def _same_site_links(page: Page, selector: str) -> set[str]:
    hrefs = page.eval_on_selector_all(selector, "els => els.map(e => e.getAttribute('href'))")
    base = page.url
    paths = set()
    for href in hrefs:
        if not href or href.startswith(("#", "mailto:", "tel:", "javascript:")):
            continue
        absolute = urlparse(urljoin(base, href))
        if absolute.netloc == urlparse(base).netloc:
            paths.add(absolute.path + (f"?{absolute.query}" if absolute.query else ""))
    return paths


def test_an_invited_meter_reader_joins_reads_a_meter_and_meets_no_403(page: Page, browser: Browser,  # type: ignore[no-untyped-def]
                                                                     app_server: AppServer, team_route,
                                                                     django_db_blocker, tmp_path) -> None:
    # The owner invites from Settings → Team.
    page.goto(app_server.url("alpha", "/accounts/login/"))
    page.get_by_label("Email").fill("alice@alpha.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(app_server.url("alpha", "/dashboard/"))
    page.goto(app_server.url("alpha", "/dashboard/settings/"))
    page.get_by_test_id("settings-team").click()
    expect(page).to_have_url(app_server.url("alpha", "/dashboard/settings/team/"))
    page.get_by_label("Email").fill(INVITEE)
    page.locator("#id_role").select_option(label="Meter reader")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Invitation sent to {INVITEE}")
    row = page.locator(f'[data-testid="team-row"][data-email="{INVITEE}"]')
    expect(row).to_contain_text("invited")
    expect(row).to_contain_text("Meter reader")
    page.screenshot(path=str(tmp_path / "team-invited.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no page wider than a phone
    row.get_by_text("Manage").or_(row.get_by_text("Change role")).first.click()
    page.screenshot(path=str(tmp_path / "team-phone.png"), full_page=True)

    # The invited person opens the emailed link in their own browser, on a phone.
    link = _invite_link(app_server)
    assert link.startswith(app_server.url("alpha", "/accounts/invite/"))
    context = browser.new_context(viewport={"width": 390, "height": 844})
    reader = context.new_page()
    reader.goto(link)
    expect(reader.get_by_role("heading", name="Join Alpha Water")).to_be_visible()
    reader.get_by_label("Your full name").fill("Wanjiku Njoroge")
    reader.get_by_label("Choose a password").fill(INVITEE_PASSWORD)
    reader.get_by_label("Type the password again").fill(INVITEE_PASSWORD)
    assert reader.evaluate("document.documentElement.scrollWidth") <= 390
    reader.screenshot(path=str(tmp_path / "invite-accept-phone.png"), full_page=True)
    reader.get_by_role("button", name="Set password and continue").click()
    expect(reader).to_have_url(app_server.url("alpha", "/dashboard/"))
    expect(reader.get_by_role("status").first).to_contain_text("Welcome to Alpha Water")
    reader.screenshot(path=str(tmp_path / "reader-home.png"), full_page=True)

    # The link was single use.
    again = context.new_page()
    again.goto(link)
    expect(again.get_by_test_id("invite-unusable")).to_contain_text("Each link works once")
    again.close()

    # A reading on the route sheet.
    reader.goto(app_server.url("alpha", "/dashboard/readings/?zone=team"))
    box = reader.get_by_label("Reading for meter TM-1")
    expect(box).to_be_focused()
    reader.keyboard.type("107.5")
    reader.keyboard.press("Enter")
    expect(reader.get_by_role("status").first).to_contain_text("Saved 1 reading")

    from meters.models import Reading
    from tenants.models import Provider

    with django_db_blocker.unblock(), tenant_context(Provider.objects.get(slug="alpha")):
        saved = Reading.objects.select_related("recorded_by").get(meter=team_route)
        assert saved.consumption == Decimal("7.500") and saved.recorded_by.email == INVITEE
    connection.set_schema_to_public()

    # Their profile, on the phone.
    reader.goto(app_server.url("alpha", "/dashboard/profile/"))
    expect(reader.get_by_role("heading", name="Security")).to_be_visible()
    assert reader.evaluate("document.documentElement.scrollWidth") <= 390
    reader.screenshot(path=str(tmp_path / "profile-phone.png"), full_page=True)

    # Every link the sidebar and the home page show them: none answers 403.
    reader.goto(app_server.url("alpha", "/dashboard/"))
    sidebar = _same_site_links(reader, "aside.sidebar a[href]") | _same_site_links(reader, "header.topbar a[href]")
    home = _same_site_links(reader, "main a[href]")
    assert {"/dashboard/readings/", "/dashboard/profile/"} <= sidebar
    # Fetched from the page itself, with the reader's cookies (Playwright's own request context
    # cannot resolve *.localhost names; Chromium can).
    answers = reader.evaluate(
        "async paths => Object.fromEntries(await Promise.all(paths.map(async p => "
        "[p, (await fetch(p, {credentials: 'same-origin'})).status])))", sorted(sidebar | home))
    assert all(code < 500 for code in answers.values()), answers
    assert {p for p in sidebar if answers[p] == 403} <= SIDEBAR_403_NOT_YET_FIXED, answers
    assert {p for p in home - sidebar if answers[p] == 403} <= HOME_403_NOT_YET_FIXED, answers
    context.close()
