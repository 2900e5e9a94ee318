"""Rate limits (accounts/ratelimit.py) through real requests: the API per key, the public forms
per client address and per account named, Africa's Talking's callbacks per provider. Counters
live in the test session's cache (Redis when REDIS_URL is set), cleared before each test; small
limits come from override_settings, the code is the production one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client, override_settings
from django_tenants.utils import tenant_context

from accounts.ratelimit import parse_rate
from accounts.services import api_key_create
from tests.conftest import api_client, host_of

# The start of a minute: every window of the tests begins here, whatever the clock says.
T0 = datetime(2026, 11, 23, 7, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock():  # type: ignore[no-untyped-def]
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def test_rates_are_read_as_written_and_nonsense_is_refused() -> None:
    assert parse_rate("600/m") == parse_rate("600/min") == parse_rate(" 600 / minute ")
    assert parse_rate("10/h").seconds == 3600 and parse_rate("2/s").count == 2
    for bad in ("", "600", "0/m", "ten/m", "600/week"):
        with pytest.raises(ValueError, match="N/s, N/m"):
            parse_rate(bad)


# --- the API, per key -------------------------------------------------------------------------

@override_settings(RATE_LIMIT_API="3/m")
def test_an_api_key_is_limited_and_others_are_not(alpha, beta, alpha_api, beta_api, clock) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        assert alpha_api.get("/api/v1/tariffs/").status_code == 200
    limited = alpha_api.get("/api/v1/tariffs/")
    assert limited.status_code == 429
    assert limited.json() == {"detail": "Request was throttled. Expected available in 60 seconds."}
    assert limited["Retry-After"] == "60"
    # Beta's key has the same id in its own schema: its counter is its own.
    assert beta_api.get("/api/v1/tariffs/").status_code == 200
    # Another key of alpha's has its own allowance.
    with tenant_context(alpha):
        second_key = api_key_create(name="second app")[1]
    assert api_client("alpha", second_key).get("/api/v1/tariffs/").status_code == 200
    # Half a minute on, the wait left is half a minute; past the minute the key works again.
    clock.shift(timedelta(seconds=30))
    assert alpha_api.get("/api/v1/tariffs/")["Retry-After"] == "30"
    clock.shift(timedelta(seconds=31))
    assert alpha_api.get("/api/v1/tariffs/").status_code == 200


@override_settings(RATE_LIMIT_API="1/m")
def test_the_schema_lists_429_and_staff_sessions_are_not_counted(alpha, alpha_client, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import login

    login(alpha_client, "alice@alpha.test")
    for _ in range(3):
        assert alpha_client.get("/api/v1/tariffs/").status_code == 200
    schema = alpha_client.get("/api/schema/?format=json").json()
    assert "429" in schema["paths"]["/api/v1/tariffs/"]["get"]["responses"]


# --- the public forms -------------------------------------------------------------------------

# (site, path, the field naming an account/phone/email or None, a valid-looking value maker)
FORMS = [
    ("public", "/signup/", "owner_email"),
    ("public", "/login/", None),  # finding your provider
    ("alpha", "/accounts/login/", "username"),
    ("alpha", "/accounts/login/code/", None),
    ("alpha", "/accounts/password-reset/", "email"),
    ("alpha", "/accounts/register/", "account_number"),
    ("alpha", "/accounts/register/code/", None),
    ("alpha", "/pay/1-a-b/", "phone"),  # a forged link is a 404, but it is counted first
]


def _http(site: str) -> Client:
    return Client(HTTP_HOST=host_of(site) if site != "public" else "majismart.localhost")


@pytest.mark.parametrize(("site", "path", "field"), FORMS)
@override_settings(RATE_LIMIT_FORMS_PER_IP="3/m", RATE_LIMIT_FORMS_PER_ACCOUNT="100/m")
def test_a_public_form_is_limited_per_address(alpha, site, path, field, clock) -> None:  # type: ignore[no-untyped-def]
    http = _http(site)

    def post(n: int, ip: str = "203.0.113.7"):  # type: ignore[no-untyped-def]
        return http.post(path, {field or "x": f"someone{n}@example.test"}, REMOTE_ADDR=ip)

    for n in range(3):
        assert post(n).status_code != 429
    limited = post(3)
    assert limited.status_code == 429 and limited["Retry-After"] == "60"
    assert "Too many requests" in limited.content.decode()
    # GETs are never counted; another address is unaffected.
    assert http.get(path, REMOTE_ADDR="203.0.113.7").status_code != 429
    assert post(4, ip="203.0.113.8").status_code != 429
    clock.shift(timedelta(seconds=61))
    assert post(5).status_code != 429


@pytest.mark.parametrize(("site", "path", "field"), [form for form in FORMS if form[2]])
@override_settings(RATE_LIMIT_FORMS_PER_IP="100/m", RATE_LIMIT_FORMS_PER_ACCOUNT="2/m")
def test_a_public_form_is_limited_per_account_named(alpha, site, path, field, clock) -> None:  # type: ignore[no-untyped-def]
    http = _http(site)
    for n in range(2):
        assert http.post(path, {field: "0712 000 111"}, REMOTE_ADDR=f"198.51.100.{n}").status_code != 429
    # From a third address, the same account (however it is spelt around) is refused; another is not.
    limited = http.post(path, {field: " 0712 000 111 "}, REMOTE_ADDR="198.51.100.9")
    assert limited.status_code == 429 and 0 < int(limited["Retry-After"]) <= 60
    assert http.post(path, {field: "0712 000 222"}, REMOTE_ADDR="198.51.100.9").status_code != 429


@override_settings(RATE_LIMIT_FORMS_PER_IP="2/m")
def test_the_page_is_in_the_readers_language_and_providers_count_apart(alpha, beta, clock) -> None:  # type: ignore[no-untyped-def]
    alpha_http, beta_http = _http("alpha"), _http("beta")
    for _ in range(2):
        alpha_http.post("/accounts/login/", {"username": "x@example.test", "password": "wrong"})
    limited = alpha_http.post("/accounts/login/", {"username": "x@example.test"}, HTTP_ACCEPT_LANGUAGE="sw")
    assert limited.status_code == 429
    assert "Maombi mengi mno" in limited.content.decode() and "dakika 1" in limited.content.decode()
    # The same address on another provider's login is unaffected.
    assert beta_http.post("/accounts/login/", {"username": "x@example.test", "password": "wrong"}).status_code == 200


@override_settings(RATE_LIMIT_FORMS_PER_IP="2/m", TRUSTED_PROXY_COUNT=1)
def test_behind_a_proxy_the_client_address_is_counted_not_the_proxy(alpha, clock) -> None:  # type: ignore[no-untyped-def]
    http = _http("alpha")

    def post(client_address: str):  # type: ignore[no-untyped-def]
        return http.post("/accounts/login/", {"username": "x@example.test"}, REMOTE_ADDR="10.0.0.1",
                         HTTP_X_FORWARDED_FOR=client_address)

    assert [post("203.0.113.1").status_code for _ in range(3)][-1] == 429
    assert post("203.0.113.2").status_code == 200


# --- Africa's Talking: a ceiling per provider ---------------------------------------------------

@override_settings(RATE_LIMIT_CALLBACKS_PER_PROVIDER="2/m")
def test_ussd_and_incoming_sms_have_a_ceiling_per_provider(alpha, beta, clock) -> None:  # type: ignore[no-untyped-def]
    alpha_http, beta_http = _http("alpha"), _http("beta")

    def dial(http: Client, token: str, n: int):  # type: ignore[no-untyped-def]
        return http.post(f"/ussd/{token}/", {"sessionId": f"ATUid_{n}", "serviceCode": "*384#",
                                             "phoneNumber": f"+25471200{n:04d}", "networkCode": "63902", "text": ""})

    for n in range(2):
        answer = dial(alpha_http, alpha.callback_token, n)
        assert answer.status_code == 200 and answer.content.decode().startswith("END ")
    flooded = dial(alpha_http, alpha.callback_token, 2)
    assert flooded.status_code == 429 and flooded["Retry-After"] == "60"
    # A wrong token is still a 404 (nothing counted nor stored); beta's callers are still answered.
    assert dial(alpha_http, "wrong-token", 3).status_code == 404
    assert dial(beta_http, beta.callback_token, 4).status_code == 200
    # Incoming SMS counts apart from USSD.
    sms = {"from": "+254712000001", "to": "40404", "text": "BAL", "date": "2026-11-23 10:00:00", "linkId": ""}
    assert [alpha_http.post(f"/sms/inbound/{alpha.callback_token}/", {**sms, "id": f"m{n}"}).status_code
            for n in range(3)] == [200, 200, 429]
    clock.shift(timedelta(seconds=60))
    assert dial(alpha_http, alpha.callback_token, 5).status_code == 200
