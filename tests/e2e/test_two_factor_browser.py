"""Two-factor authentication in a real browser on a phone-sized screen: an owner enrols (reads
the setup key off the page and computes the code as an authenticator app would), keeps the
recovery codes (downloads them), logs out, logs in with a code from the app, logs out, and logs
in with a recovery code."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.billing_helpers import own_provider
from tests.e2e.conftest import AppServer
from tests.e2e.test_billing_wizard_browser import log_in
from tests.two_factor_helpers import code_from_secret

pytestmark = pytest.mark.e2e


@pytest.fixture
def provider(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    with own_provider(django_db_blocker, "tfa", name="Two Factor Water") as made:
        yield made


def test_an_owner_enrols_then_logs_in_with_a_code_and_with_a_recovery_code(  # type: ignore[no-untyped-def]
        page: Page, app_server: AppServer, provider, tmp_path) -> None:
    slug = provider.slug
    email = f"owner@{slug}.test"
    page.set_viewport_size({"width": 390, "height": 844})
    refused_styles: list[str] = []
    page.on("console", lambda msg: refused_styles.append(msg.text) if "Content Security Policy" in msg.text else None)

    log_in(page, app_server, slug, email)
    expect(page).to_have_url(app_server.url(slug, "/dashboard/"))
    page.goto(app_server.url(slug, "/dashboard/profile/two-factor/"))
    expect(page.get_by_test_id("two-factor-off")).to_be_visible()
    page.get_by_test_id("two-factor-start").click()

    expect(page.get_by_test_id("two-factor-qr").locator("svg")).to_be_visible()
    secret = page.get_by_test_id("two-factor-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{1,4})+", secret), secret
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "setup.png"), full_page=True)
    page.get_by_label("Six-digit code from the app").fill(code_from_secret(secret))
    page.get_by_role("button", name="Turn on").click()

    codes_list = page.get_by_test_id("recovery-codes")
    expect(codes_list).to_be_visible()
    codes = [c.strip() for c in codes_list.locator("li").all_inner_texts()]
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-7]{4}-[a-z2-7]{4}", c) for c in codes)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download as text").click()
    saved = download_info.value.path().read_text()
    assert all(code in saved for code in codes) and email in saved
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "codes.png"), full_page=True)
    page.get_by_test_id("codes-done").click()
    expect(page.get_by_test_id("two-factor-on")).to_be_visible()
    expect(page.get_by_test_id("codes-left")).to_contain_text("10")

    # Log out; log in again: the password, then a code from the app. The code used to turn it on
    # is spent, so the app's next one is typed (the server accepts one step either side).
    page.get_by_role("button", name="Log out").click()
    log_in(page, app_server, slug, email)
    expect(page).to_have_url(re.compile(r"/accounts/login/code/$"))
    page.screenshot(path=str(tmp_path / "code-step.png"), full_page=True)
    page.get_by_label("Code from the app, or a recovery code").fill(code_from_secret(secret, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(app_server.url(slug, "/dashboard/"))

    # Log out; log in with a recovery code instead (the phone is lost).
    page.get_by_role("button", name="Log out").click()
    log_in(page, app_server, slug, email)
    page.get_by_label("Code from the app, or a recovery code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(app_server.url(slug, "/dashboard/"))
    expect(page.get_by_text("You used a recovery code; 9 left")).to_be_visible()
    page.goto(app_server.url(slug, "/dashboard/profile/two-factor/"))
    expect(page.get_by_test_id("codes-left")).to_contain_text("9")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "status.png"), full_page=True)

    # The spent recovery code does not work a second time.
    page.get_by_role("button", name="Log out").click()
    log_in(page, app_server, slug, email)
    page.get_by_label("Code from the app, or a recovery code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("That code is not right")).to_be_visible()
    assert refused_styles == []
