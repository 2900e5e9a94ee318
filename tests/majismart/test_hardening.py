"""Hardening (issue 16 point 7): a strict Content-Security-Policy and a Permissions-Policy on every
page, `Cache-Control: no-store` wherever personal data is shown, HTTPS redirect and HSTS in
production with /healthz exempt, `check --deploy` clean, and M-Pesa's KES 250,000 cap on C2B."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from django.test import Client as Http
from django.test import override_settings
from django_tenants.utils import tenant_context

from accounts.models import User
from billing.models import Invoice
from devkit.testing import PYTHON
from payments.callbacks import inbox_process
from payments.inbox import inbox_store
from payments.models import CallbackInbox, Payment
from payments.services import payment_record
from tests.billing_helpers import NBO, D, billed_twice
from tests.conftest import API_KEYS, api_client, host_of, login
from tests.payments.test_payments import confirmation, post, urls

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50), "DATABASE_URL": "postgres://x@127.0.0.1:1/x",
    "FIELD_ENCRYPTION_KEYS": "dGVzdC1rZXktb25lLW5vdC1mb3ItcHJvZHVjdGlvbiE=", "BLIND_INDEX_KEY": "i" * 40,
    "EMAIL_URL": "smtp+tls://user:pass@mail.example.co.ke:587", "BASE_DOMAIN": "water.example.co.ke",
    "TRUSTED_PROXY_COUNT": "1",
}
PRODUCTION_SECURITY = {"SECURE_SSL_REDIRECT": True, "SECURE_HSTS_SECONDS": 31_536_000,
                       "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_HSTS_PRELOAD": True,
                       "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")}


def csp_of(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


def assert_hardened(response, *, personal: bool = True) -> None:  # type: ignore[no-untyped-def]
    policy = csp_of(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert not any("unsafe" in value or value in ("*", "http:", "https:") for values in policy.values()
                   for value in values)
    features = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in features
    assert response["X-Content-Type-Options"] == "nosniff"
    if personal:
        assert "no-store" in response["Cache-Control"], response.get("Cache-Control")


def signed_in(email: str) -> Http:
    http = Http(HTTP_HOST=host_of("alpha"))
    assert login(http, email).status_code == 302
    return http


@pytest.fixture
def carols_account(tenant):  # type: ignore[no-untyped-def]
    """A client with two bills and a cash payment, whose portal login is carol."""
    client = billed_twice("Mary Wanjiku")
    client.user = User.objects.get(email="carol@alpha.test")
    client.save(update_fields=["user"])
    payment_record(method="cash", receipt="CASH-0001", amount=D("300.00"), client=client,
                   paid_at=datetime(2026, 11, 10, 12, tzinfo=NBO))
    return client


# --- headers on every kind of answer ---------------------------------------------------------------
def test_it_hardens_the_dashboard_portal_and_their_pdfs(carols_account) -> None:  # type: ignore[no-untyped-def]
    invoice = Invoice.objects.get(client=carols_account, period="2026-10")
    alice, carol = signed_in("alice@alpha.test"), signed_in("carol@alpha.test")
    for http, path in ((alice, "/dashboard/"), (alice, f"/dashboard/clients/{carols_account.pk}/"),
                       (alice, "/dashboard/billing/invoices/"), (carol, "/portal/"), (carol, "/portal/bills/"),
                       (carol, f"/portal/bills/{invoice.pk}/")):
        response = http.get(path)
        assert response.status_code == 200, path
        assert_hardened(response)
    for http, path in ((alice, f"/dashboard/billing/invoices/{invoice.pk}/pdf/"),
                       (carol, f"/portal/bills/{invoice.pk}/pdf/")):
        pdf = http.get(path)
        assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf", path
        assert_hardened(pdf)


def test_it_hardens_the_api(alpha) -> None:  # type: ignore[no-untyped-def]
    response = api_client("alpha", API_KEYS["alpha"]).get("/api/v1/clients/")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert_hardened(response)


def test_it_hardens_the_login_page_and_the_public_site(alpha_client, public_client) -> None:  # type: ignore[no-untyped-def]
    login_page = alpha_client.get("/accounts/login/")
    assert login_page.status_code == 200
    assert_hardened(login_page)  # carries a CSRF token: not for caches either
    for path in ("/", "/privacy/", "/signup/"):
        response = public_client.get(path)
        assert response.status_code == 200, path
        assert_hardened(response, personal=False)


def test_a_suspended_providers_page_and_an_error_page_are_hardened_too(gamma, alpha_client) -> None:  # type: ignore[no-untyped-def]
    suspended = Http(HTTP_HOST=host_of("gamma")).get("/portal/")
    assert suspended.status_code == 403
    assert_hardened(suspended)
    missing = alpha_client.get("/no-such-page/")
    assert missing.status_code == 404 and "Permissions-Policy" in missing


def test_static_files_keep_their_own_caching(alpha_client) -> None:  # type: ignore[no-untyped-def]
    response = alpha_client.get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_swagger_ui_runs_without_inline_script(alpha) -> None:  # type: ignore[no-untyped-def]
    alice = signed_in("alice@alpha.test")
    page = alice.get("/api/docs/")
    assert page.status_code == 200
    policy = csp_of(page)
    assert policy["script-src"] == ["'self'"]  # only its styles are relaxed
    html = page.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    script = alice.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


# Served pages only: e-mail bodies (notifications/email.html) need inline styles in mail clients,
# and pdf/ templates are read by WeasyPrint, never by a browser.
NOT_SERVED = ("notifications/email.html", "pdf/")
INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an inline event handler"),
    (re.compile(r"\sstyle\s*=", re.I), "a style attribute"),
    (re.compile(r"<style[\s>]", re.I), "a <style> element"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


def test_no_served_template_has_inline_script_or_style() -> None:
    found = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        name = path.relative_to(ROOT / "templates").as_posix()
        if name.startswith(NOT_SERVED):
            continue
        text = path.read_text()
        found += [f"{name}: {what}" for pattern, what in INLINE if pattern.search(text)]
    assert found == []


# --- HTTPS in production ----------------------------------------------------------------------------
def production_process(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in (
        "SECRET_KEY", "DEBUG", "MAJISMART_TESTING", "FIELD_ENCRYPTION_KEYS", "EMAIL_URL", "BLIND_INDEX_KEY",
        "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_PRELOAD", "TRUSTED_PROXY_COUNT",
        "DJANGO_ALLOW_ASYNC_UNSAFE")}  # the browser tests set it for Playwright's event loop
    clean.update(DJANGO_SETTINGS_MODULE="majismart.settings.base", **PRODUCTION_ENV)
    clean.update(env)
    return subprocess.run([PYTHON, *code.split("\0")], env=clean, cwd=ROOT, capture_output=True, text=True,  # noqa: S603
                          timeout=180)


SHOW_SETTINGS = ("-c\0import django; django.setup(); from django.conf import settings as s; "
                 "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
                 "s.SECURE_HSTS_PRELOAD, s.SECURE_PROXY_SSL_HEADER, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)")


def test_production_redirects_to_https_and_sends_hsts_by_default() -> None:
    production = production_process(SHOW_SETTINGS)
    assert production.returncode == 0, production.stderr
    assert production.stdout.split() == ["True", "31536000", "True", "True", "('HTTP_X_FORWARDED_PROTO',",
                                         "'https')", "True", "True"]
    turned_off = production_process(SHOW_SETTINGS, SECURE_SSL_REDIRECT="false", SECURE_HSTS_SECONDS="0")
    assert turned_off.stdout.split()[:2] == ["False", "0"]
    development = production_process(SHOW_SETTINGS, DEBUG="true")
    assert development.stdout.split()[:2] == ["False", "0"]  # `make run` serves plain http


def test_check_deploy_with_production_settings_reports_nothing() -> None:
    result = production_process("manage.py\0check\0--deploy\0--fail-level\0WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_plain_http_is_redirected_but_health_checks_are_not(alpha) -> None:  # type: ignore[no-untyped-def]
    with override_settings(**PRODUCTION_SECURITY):
        http = Http(HTTP_HOST=host_of("alpha"))  # a new client builds its middleware with these settings
        plain = http.get("/accounts/login/?next=/portal/")
        assert plain.status_code == 301
        assert plain["Location"] == f"https://{host_of('alpha')}/accounts/login/?next=/portal/"
        assert "Strict-Transport-Security" not in plain  # HSTS only over https
        probe = http.get("/healthz")  # docker's and the load balancer's probes talk plain http
        assert probe.status_code == 200 and probe.json()["checks"]["database"] == "ok"
        proxied = http.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
        assert proxied.status_code == 200
        assert proxied["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_development_and_tests_serve_plain_http(alpha_client) -> None:  # type: ignore[no-untyped-def]
    response = alpha_client.get("/accounts/login/")
    assert response.status_code == 200 and "Strict-Transport-Security" not in response


# --- M-Pesa's KES 250,000 per transaction ------------------------------------------------------------
@pytest.fixture
def billed(tenant):  # type: ignore[no-untyped-def]
    return billed_twice()


def test_c2b_validation_accepts_250000_and_refuses_a_cent_more(billed, alpha) -> None:  # type: ignore[no-untyped-def]
    http = Http(HTTP_HOST=host_of("alpha"))
    validate = urls(alpha)[0]
    for amount in ("250000", "250000.00", "1"):
        answer = post(http, validate, confirmation(billed.account_number, amount))
        assert answer.json() == {"ResultCode": "0", "ResultDesc": "Accepted"}, amount
    for amount in ("250000.01", "250001", "0", "-5", "NaN", "lots"):
        answer = post(http, validate, confirmation(billed.account_number, amount))
        assert answer.json() == {"ResultCode": "C2B00013", "ResultDesc": "Rejected"}, amount
    with tenant_context(alpha):
        notes = list(CallbackInbox.objects.filter(kind="c2b_validation").order_by("id").values_list("note", flat=True))
        assert notes[3].startswith("amount '250000.01' rejected")


def test_a_c2b_confirmation_above_250000_is_flagged_not_paid(billed, alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        def process(amount: str, receipt: str) -> str:
            body = json.dumps(confirmation(billed.account_number, amount, trans_id=receipt)).encode()
            return inbox_process(inbox_store(kind="c2b_confirmation", body=body, headers={}, source_ip=None).pk)

        assert process("250000.00", "RKL0000001") == "processed"
        assert process("250000.01", "RKL0000002") == "invalid"
        assert list(Payment.objects.values_list("receipt", "amount")) == [("RKL0000001", D("250000.00"))]
        flagged = CallbackInbox.objects.get(status="invalid")
        assert "not within 0 to 250000" in flagged.note
