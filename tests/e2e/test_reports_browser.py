"""Every report in Chromium as the owner, on a laptop and on a phone, with the dashboard home's
money story behind it (tests/e2e/test_home_browser.py): the overview's figures against the
hand-computed ones, each report page opening with its charts and tables no wider than the screen,
the aging drill-down reaching Ben, and a download from the page read back."""

from __future__ import annotations

import csv
import io

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from reports.figures import bucket_of
from tests.e2e.conftest import AppServer
from tests.e2e.test_billing_wizard_browser import log_in
from tests.e2e.test_home_browser import money_provider  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e

REPORTS = ("/dashboard/reports/", "/dashboard/reports/collections/", "/dashboard/reports/aging/",
           "/dashboard/reports/billing/", "/dashboard/reports/consumption/", "/dashboard/reports/readings/",
           "/dashboard/reports/nrw/", "/dashboard/reports/regulator/")


@pytest.mark.parametrize("width", [1280, 390])
def test_every_report_opens_on_a_laptop_and_a_phone(page: Page, app_server: AppServer, money_provider,  # type: ignore[no-untyped-def]  # noqa: F811
                                                   width: int, tmp_path) -> None:
    provider, m1, m0 = money_provider
    slug = provider.slug
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, app_server, slug, f"owner@{slug}.test")
    page.get_by_test_id("nav-reports").click() if width > 600 else page.goto(app_server.url(slug, REPORTS[0]))
    expect(page).to_have_url(app_server.url(slug, REPORTS[0]))
    for testid, text in (("overview-billed", "KES 1,440.00"), ("overview-collected", "KES 850.00"),
                         ("overview-efficiency", "59.0%"), ("overview-arrears", "KES 1,240.00")):
        expect(page.get_by_test_id(testid)).to_have_text(text)
    expect(page.get_by_test_id("figures-fresh")).to_contain_text("up to date")
    for path in REPORTS:
        response = page.goto(app_server.url(slug, path))
        assert response is not None and response.status == 200, path
        expect(page.locator("h1")).to_be_visible()
        tabs = page.locator("nav.tabs a")
        for i in range(tabs.count()):  # every tab on screen: the bar wraps on a phone
            box = tabs.nth(i).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (path, i)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
        page.screenshot(path=str(tmp_path / f"{path.strip('/').replace('/', '-')}-{width}.png"), full_page=True)
    if width < 600:  # a zone chart opens on its first zone, axis in sight; the total row says what each figure is
        page.goto(app_server.url(slug, "/dashboard/reports/aging/"))
        first = page.locator('[data-testid="stacked-chart"]').first.get_by_test_id("chart-label").first.bounding_box()
        assert first and 0 <= first["x"] < width, first
        total = page.locator('[data-testid="aging-by-zone"] tfoot th[data-label="Total"]')
        expect(total).to_have_text("KES 1,240.00")
        assert page.evaluate("(e) => getComputedStyle(e, '::before').content", total.element_handle()).startswith('"Total"')
    # The aging drill-down: Ben's 700.00 in the bucket of his oldest unpaid bill (M-2's, due the 16th of M-1).
    bucket = bucket_of(m1.replace(day=16), timezone.localdate())
    page.goto(app_server.url(slug, f"/dashboard/reports/aging/?bucket={bucket}"))
    expect(page.get_by_text("Ben Barasa")).to_be_visible()
    expect(page.get_by_text("Ann Atieno")).to_have_count(0)
    # A download from the page, read back.
    with page.expect_download() as download:
        page.get_by_test_id("export-csv").click()
    rows = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8-sig").read())))  # noqa: SIM115
    assert len(rows) == 2 and any("700.00" in cell for cell in rows[1]), rows
