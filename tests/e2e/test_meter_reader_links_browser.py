"""A meter reader on a phone: from the route sheet to a saved reading, every link on every page
they see opens (none ends in 403), and what they cannot use is not shown."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import AppServer
from tests.e2e.test_route_sheet_browser import east_route  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e


def links_open(page: Page, app_server: AppServer) -> list[str]:
    """Every same-site link on the page (the menu included), asked for in the reader's session."""
    base = app_server.url("alpha", "/").rstrip("/")
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    mine = [h for h in sorted(set(hrefs)) if h.startswith(base) and "/static/" not in h and "#" not in h]
    assert mine, "no links found"
    # Asked from the page (the browser resolves the provider's *.localhost name; Playwright's own
    # request client does not).
    statuses = page.evaluate("hrefs => Promise.all(hrefs.map(h => fetch(h, {redirect: 'manual'}).then(r => r.status)))",
                             mine)
    return [h for h, status in zip(mine, statuses, strict=True) if status == 403]


def test_a_meter_reader_sees_only_links_they_can_open(page: Page, app_server: AppServer, east_route) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(app_server.url("alpha", "/accounts/login/"))
    page.get_by_label("Email").fill("ari@alpha.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.goto(app_server.url("alpha", "/dashboard/readings/?zone=east"))
    menu = page.locator(".sidebar")
    for shown in ("Clients", "Meters", "Readings", "Settings"):
        expect(menu.get_by_role("link", name=shown, exact=True)).to_have_count(1)
    for hidden in ("Billing", "Payments", "Messages", "Privacy", "Audit log"):
        expect(menu.get_by_role("link", name=hidden, exact=True)).to_have_count(0)
    expect(menu).not_to_contain_text("Reports")
    expect(page.get_by_role("link", name="Review queue")).to_have_count(0)
    assert links_open(page, app_server) == []

    page.get_by_label("Reading for meter EM-1").fill("112.5")
    page.get_by_role("button", name="Save readings").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved 1 reading")
    assert links_open(page, app_server) == []

    # The meters they read, and a client's page, open too, without billing links.
    page.goto(app_server.url("alpha", "/dashboard/meters/"))
    expect(page.get_by_text("EM-1")).to_be_visible()
    assert links_open(page, app_server) == []
    page.get_by_role("link", name="E001").click()
    expect(page.get_by_role("link", name="Statement")).to_have_count(0)
    assert links_open(page, app_server) == []
