"""An accountant imports a bank statement on a phone-sized screen: uploads the CSV, sees the
preview (matched, unmatched, bad rows), types the account of an unmatched deposit, records."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppServer
from tests.e2e.test_billing_wizard_browser import log_in
from tests.e2e.test_pay_browser import billed_provider  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e


def test_a_bank_statement_is_previewed_and_recorded_on_a_phone(page: Page, app_server: AppServer,  # type: ignore[no-untyped-def]
                                                                billed_provider, tmp_path) -> None:  # noqa: F811
    slug = billed_provider.slug
    day = f"{timezone.localdate() - timedelta(days=2):%d/%m/%Y}"
    statement = (f"Equity Bank statement\n\nTransaction Date,Narrative,Reference,Debit,Credit,Balance\n"
                 f"{day},CASH DEPOSIT P001 PAYING CLIENT,FT101,,\"610.00\",\"10,610.00\"\n"
                 f"{day},CASH DEPOSIT BY JOHN,FT102,,100.00,\"10,710.00\"\n"
                 f"{day},LEDGER FEE,,35.00,,\"10,675.00\"\n"
                 f"31/02/2026,CASH DEPOSIT P001,FT103,,50.00,\"10,725.00\"\n").encode()
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, app_server, slug, f"owner@{slug}.test")
    page.goto(app_server.url(slug, "/dashboard/payments/"))
    page.get_by_role("link", name="Import bank statement").click()
    expect(page.get_by_test_id("bank-columns")).to_contain_text("Transaction Date, Value Date")
    page.get_by_label("Bank statement (CSV)").set_input_files(
        files=[{"name": "equity.csv", "mimeType": "text/csv", "buffer": statement}])
    page.get_by_role("button", name="Upload and preview").click()

    expect(page.get_by_test_id("bank-matched")).to_contain_text("Paying Client")
    expect(page.get_by_test_id("bank-errors")).to_contain_text("Date “31/02/2026” is not a date")
    unmatched = page.get_by_test_id("bank-unmatched")
    expect(unmatched).to_contain_text("CASH DEPOSIT BY JOHN")
    unmatched.get_by_label("Account number for line 5").fill("p001")
    # Nothing wider than the phone once laid out (the first frame, before the cards, may be).
    page.wait_for_function("document.documentElement.scrollWidth <= 390", timeout=3000)
    page.screenshot(path=str(tmp_path / "bank-preview-phone.png"), full_page=True)
    page.get_by_role("button", name="Record the payments").click()

    result = page.get_by_test_id("bank-result")
    expect(result).to_contain_text("KES 710.00")
    expect(page.get_by_test_id("bank-created").get_by_role("link")).to_have_count(2)
    # Nothing wider than the phone once laid out (the first frame, before the cards, may be).
    page.wait_for_function("document.documentElement.scrollWidth <= 390", timeout=3000)
    page.screenshot(path=str(tmp_path / "bank-result-phone.png"), full_page=True)
    page.get_by_test_id("bank-created").get_by_role("link", name="FT101").click()
    expect(page.get_by_text("KES 610.00").first).to_be_visible()
