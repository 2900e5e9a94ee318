"""M-Pesa settings say which values work with the Daraja sandbox (shared/reference/payments-apis.md §1.8)."""

from __future__ import annotations

import re

from tests.tenants.test_dashboard import _as

SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
TEST_MSISDN = "254708374149"


def test_it_states_the_daraja_sandbox_test_values(alpha) -> None:  # type: ignore[no-untyped-def]
    page = _as("alice").get("/dashboard/payments/settings/").content.decode()
    shown = re.search(r'<div class="muted small" data-testid="sandbox-values">(.*?)</div>', page, re.S)
    assert shown is not None
    text = re.sub(r"<[^>]+>", "", shown.group(1))
    assert f"shortcode {SANDBOX_SHORTCODE}, type Paybill, passkey {SANDBOX_PASSKEY}" in text
    assert f"Test phone number: {TEST_MSISDN}" in text
    assert "600xxx" in text and "differ from one sandbox app to another" in text  # no one C2B shortcode for all
    assert "reversed at 6am the next day" in text
