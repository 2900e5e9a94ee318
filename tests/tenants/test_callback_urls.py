"""Settings and M-Pesa settings show the same callback URLs: the ones Safaricom accepts."""

from __future__ import annotations

import json
import re
from io import StringIO
from urllib.parse import urlsplit

from django.core.management import call_command
from django.urls import resolve

from tenants.selectors import callback_urls
from tests.tenants.test_dashboard import _as

URL = re.compile(r"https?://alpha\.majismart\.localhost[^\s<\"']*/(?:payments|ussd|sms)/[^\s<\"']*")


def _shown(path: str) -> list[str]:
    response = _as("alice").get(path)
    assert response.status_code == 200
    return URL.findall(response.content.decode())


def test_it_shows_the_same_urls_on_settings_and_on_mpesa_settings(alpha) -> None:  # type: ignore[no-untyped-def]
    settings_page = _shown("/dashboard/settings/")
    mpesa_page = _shown("/dashboard/payments/settings/")
    assert settings_page == mpesa_page == list(callback_urls(alpha).values())
    assert len(settings_page) == 6 and sum(alpha.callback_token in url for url in settings_page) == 5


def test_it_shows_only_urls_safaricom_accepts_and_that_answer(alpha) -> None:  # type: ignore[no-untyped-def]
    for url in callback_urls(alpha).values():
        assert "mpesa" not in url.lower()  # Safaricom refuses a URL with the word anywhere
        resolve(urlsplit(url).path, urlconf="web.urls_tenant")  # a real route, not a 404


def test_provider_info_prints_the_same_urls(alpha) -> None:  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command("provider_info", "alpha", "--json", stdout=out)
    assert json.loads(out.getvalue())["callback_urls"] == callback_urls(alpha)

