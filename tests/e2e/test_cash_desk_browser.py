"""A cashier records a cash payment on a phone-sized screen: finds the client with the
register's search, records it, lands on the payment and its receipt PDF."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppServer
from tests.e2e.test_billing_wizard_browser import log_in
from tests.e2e.test_pay_browser import billed_provider  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e


def test_a_cash_payment_at_the_counter_and_its_receipt(page: Page, app_server: AppServer,  # type: ignore[no-untyped-def]
                                                        billed_provider, tmp_path) -> None:  # noqa: F811
    slug = billed_provider.slug
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, app_server, slug, f"owner@{slug}.test")
    page.goto(app_server.url(slug, "/dashboard/payments/"))
    page.get_by_test_id("record-payment").click()
    page.get_by_label("Client").fill("P001")
    page.get_by_role("button", name="Find client").click()
    page.get_by_test_id("found-client").get_by_role("link", name="Choose").click()
    expect(page.get_by_test_id("chosen-client")).to_contain_text("Paying Client")
    page.get_by_label("Amount").fill("610")
    page.get_by_label("Method").select_option("cash")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "desk.png"), full_page=True)
    page.get_by_test_id("record-submit").click()

    expect(page.get_by_text("the receipt is on its way")).to_be_visible()
    expect(page.get_by_text("KES 610.00").first).to_be_visible()
    receipt = page.get_by_test_id("receipt-pdf")
    # Fetched by the page itself (the browser knows the provider's host name).
    status, kind, head = page.evaluate(
        "async (url) => { const r = await fetch(url); const b = new Uint8Array(await r.arrayBuffer());"
        " return [r.status, r.headers.get('content-type'), String.fromCharCode(...b.slice(0, 5))]; }",
        receipt.get_attribute("href"))
    assert (status, kind, head) == (200, "application/pdf", "%PDF-")
    page.screenshot(path=str(tmp_path / "recorded.png"), full_page=True)
