"""A client opens their own portal login on their provider's domain: account number and the phone
or email on file, a 6-digit code sent there, then a password, the adult attestation and the
terms and privacy policy in force."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client as Http
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import AuditEvent, User
from clients.models import Category, Client
from notifications.models import Message
from privacy import registration
from privacy.models import PolicyAcceptance
from tenants.models import POLICY_VERSION
from tests.conftest import PASSWORD, host_of, login
from tests.notifications_helpers import committed, sms_ready

pytestmark = pytest.mark.django_db

PHONE = "+254712000111"
GOOD = {"email": "esther@example.com", "password1": "river-stone-42", "password2": "river-stone-42",
        "adult": "on", "accept": "on"}


@pytest.fixture
def account(alpha, at):  # type: ignore[no-untyped-def]
    """An alpha client without a login, with a phone and an email on file; SMS on the stand-in."""
    with tenant_context(alpha):
        sms_ready()
        client = Client.objects.create(account_number="ALP00042", full_name="Esther Njeri", phone=PHONE,
                                       email="Esther@Example.com", category=Category.objects.get(code="domestic"))
    connection.set_schema_to_public()
    return client


def http(slug: str = "alpha", ip: str = "198.51.100.4") -> Http:
    return Http(HTTP_HOST=host_of(slug), REMOTE_ADDR=ip)


def start(browser: Http, account_number: str, contact: str):  # type: ignore[no-untyped-def]
    with committed():
        return browser.post("/accounts/register/", {"account_number": account_number, "contact": contact})


def code_in(text: str) -> str:
    return re.search(r"\b(\d{6})\b", text).group(1)  # type: ignore[union-attr]


def test_a_client_registers_with_the_phone_on_file_and_lands_in_the_portal(account, at, alpha) -> None:  # type: ignore[no-untyped-def]
    browser = http()
    assert "Open your online account" in browser.get("/accounts/login/").content.decode()
    response = start(browser, "alp 00042", "0712 000 111")  # typed loosely: same account, same number
    assert response.status_code == 302 and response["Location"] == "/accounts/register/code/"
    [sms] = at.wait_for_messages(1)
    assert sms["number"] == PHONE and "Alpha Water: your portal registration code is" in sms["message"]
    page = browser.get("/accounts/register/code/").content.decode()
    assert "we have sent a 6-digit code" in page and "I am 18 or older" in page and POLICY_VERSION in page
    done = browser.post("/accounts/register/code/", {**GOOD, "code": code_in(sms["message"])})
    assert done.status_code == 302 and done["Location"] == "/portal/"
    portal = browser.get("/portal/")
    assert portal.status_code == 200 and "Esther Njeri" in portal.content.decode()
    with tenant_context(alpha):
        user = User.objects.get(email="esther@example.com")
        assert user.role == "client" and Client.objects.get(pk=account.pk).user_id == user.pk
        assert {(a.kind, a.version, a.source, a.ip) for a in PolicyAcceptance.objects.filter(user_id=user.pk)} == {
            ("privacy", POLICY_VERSION, "registration", "198.51.100.4"),
            ("terms", POLICY_VERSION, "registration", "198.51.100.4")}
        event = AuditEvent.objects.get(action="portal.registered")
        assert event.actor == "esther@example.com" and event.object_repr == "ALP00042"
        assert event.extra_data == {"adult_attested": True, "channel": "sms"}
    connection.set_schema_to_public()
    # The new login works like any other.
    again = http()
    assert login(again, "esther@example.com", "river-stone-42")["Location"] == "/"


def test_a_client_registers_with_the_email_on_file(account, alpha) -> None:  # type: ignore[no-untyped-def]
    browser = http()
    mail.outbox.clear()
    start(browser, "ALP00042", "esther@EXAMPLE.com")
    [message] = mail.outbox
    assert message.to == ["Esther@Example.com"] and message.subject == "Alpha Water: your portal registration code"
    page = browser.get("/accounts/register/code/").content.decode()
    assert 'value="esther@example.com"' in page  # what they typed, to log in with
    done = browser.post("/accounts/register/code/", {**GOOD, "code": code_in(message.body)})
    assert done["Location"] == "/portal/"
    with tenant_context(alpha):
        assert AuditEvent.objects.get(action="portal.registered").extra_data["channel"] == "email"


def test_the_answer_is_the_same_whether_or_not_the_account_matched(account, at, alpha) -> None:  # type: ignore[no-untyped-def]
    pages = []
    for account_number, contact in (("ALP00042", "0712000111"), ("ALP00042", "0712999999"),
                                    ("NOSUCH1", "0712000111"), ("ALP00042", "someone@example.com")):
        browser = http(ip=f"198.51.100.{len(pages) + 10}")
        response = start(browser, account_number, contact)
        assert response.status_code == 302 and response["Location"] == "/accounts/register/code/"
        pages.append(browser)
    code = code_in(at.wait_for_messages(1)[0]["message"])
    assert len(at.messages) == 1 and mail.outbox == []  # only the matching pair got a code
    with tenant_context(alpha):
        logged = Message.objects.get(event="registration_code")
        # The phone got the code; the log staff can read did not keep it.
        assert logged.status == "sent" and code not in logged.text and "[removed from the log]" in logged.text
    connection.set_schema_to_public()
    shown = {re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", b.get("/accounts/register/code/").content.decode())
             .replace(' value="someone@example.com"', '').replace("email address", "phone number") for b in pages}
    assert len(shown) == 1  # the address they typed, and whether it was a phone number or an email, aside
    refused = pages[2].post("/accounts/register/code/", {**GOOD, "code": "123456"})
    assert registration.MSG_BAD_CODE in refused.content.decode()


def test_form_errors_are_shown(account, at) -> None:  # type: ignore[no-untyped-def]
    browser = http()
    bad = browser.post("/accounts/register/", {"account_number": "ALP00042", "contact": "not a number"})
    assert bad.status_code == 400 and registration.MSG_CONTACT in bad.content.decode()
    start(browser, "ALP00042", "0712000111")
    code = code_in(at.wait_for_messages(1)[0]["message"])
    missing = browser.post("/accounts/register/code/", {"code": code, "email": "esther@example.com",
                                                        "password1": "123", "password2": "1234"})
    page = missing.content.decode()
    assert missing.status_code == 400
    assert registration.MSG_ADULT in page and registration.MSG_ACCEPT in page
    assert "The two passwords do not match." in page
    weak = browser.post("/accounts/register/code/", {**GOOD, "code": code, "password1": "1234567890",
                                                     "password2": "1234567890"}).content.decode()
    assert "too common" in weak or "entirely numeric" in weak
    taken = browser.post("/accounts/register/code/", {**GOOD, "code": code, "email": "alice@alpha.test"})
    assert registration.MSG_EMAIL_TAKEN in taken.content.decode()
    assert browser.post("/accounts/register/code/", {**GOOD, "code": code})["Location"] == "/portal/"


def test_wrong_codes_are_counted_and_a_code_expires(account, at) -> None:  # type: ignore[no-untyped-def]
    browser = http()
    start(browser, "ALP00042", "0712000111")
    code = code_in(at.wait_for_messages(1)[0]["message"])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(registration.MAX_TRIES):
        assert registration.MSG_BAD_CODE in browser.post("/accounts/register/code/", {**GOOD, "code": wrong}).content.decode()
    assert registration.MSG_TOO_MANY_TRIES in browser.post("/accounts/register/code/", {**GOOD, "code": code}).content.decode()
    fresh = http(ip="198.51.100.77")
    start(fresh, "ALP00042", "0712000111")
    code = code_in(at.wait_for_messages(2)[1]["message"])
    with time_machine.travel(timezone.now() + timedelta(minutes=registration.CODE_MINUTES + 1)):
        late = fresh.post("/accounts/register/code/", {**GOOD, "code": code})
    assert late.status_code == 302 and late["Location"] == "/accounts/register/"


def test_codes_are_limited_per_account_and_per_address(account, at) -> None:  # type: ignore[no-untyped-def]
    for n in range(registration.CODES_PER_ACCOUNT_PER_HOUR):
        assert start(http(ip=f"198.51.100.{n + 20}"), "NOSUCH9", "0712000111").status_code == 302
    limited = start(http(ip="198.51.100.99"), "nosuch9", "0712000111")  # any case: the same account number
    assert limited.status_code == 429 and registration.MSG_TOO_MANY in limited.content.decode()
    one = http(ip="198.51.100.200")
    for n in range(registration.CODES_PER_IP_PER_HOUR):
        assert start(one, f"OTHER{n}", "0712000111").status_code == 302
    assert start(one, "ALP00042", "0712000111").status_code == 429
    assert at.messages == []  # the real account's code was never sent from the limited address


def test_a_client_with_a_login_is_told_to_log_in(account, at, alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        Client.objects.filter(pk=account.pk).update(user=User.objects.get(email="carol@alpha.test"))
    connection.set_schema_to_public()
    browser = http()
    start(browser, "ALP00042", "0712000111")
    code = code_in(at.wait_for_messages(1)[0]["message"])
    page = browser.post("/accounts/register/code/", {**GOOD, "code": code}).content.decode()
    assert registration.MSG_HAS_LOGIN in page and 'href="/accounts/password-reset/"' in page
    with tenant_context(alpha):
        assert not User.objects.filter(email="esther@example.com").exists()


def test_an_alpha_account_cannot_register_on_betas_domain(account, at, alpha, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(beta):
        sms_ready()
    connection.set_schema_to_public()
    browser = http("beta")
    assert start(browser, "ALP00042", "0712000111")["Location"] == "/accounts/register/code/"
    assert at.messages == []
    assert registration.MSG_BAD_CODE in browser.post("/accounts/register/code/", {**GOOD, "code": "000000"}).content.decode()
    with tenant_context(beta):
        assert not User.objects.filter(email="esther@example.com").exists()
        assert not Message.objects.filter(event="registration_code").exists()
    # A code sent on alpha is worthless in a beta session.
    alpha_browser = http()
    start(alpha_browser, "ALP00042", "0712000111")
    code = code_in(at.wait_for_messages(1)[0]["message"])
    assert registration.MSG_BAD_CODE in browser.post("/accounts/register/code/", {**GOOD, "code": code}).content.decode()


def test_signed_in_users_and_expired_registrations_are_sent_on(account) -> None:  # type: ignore[no-untyped-def]
    staff = http()
    login(staff, "amos@alpha.test")
    assert staff.get("/accounts/register/")["Location"] == "/"
    assert http().get("/accounts/register/code/")["Location"] == "/accounts/register/"
    assert PASSWORD


def _provider_contact(alpha, **contact: str) -> None:  # type: ignore[no-untyped-def]
    from tenants.models import Provider

    provider = Provider.objects.get(pk=alpha.pk)
    for name, value in contact.items():
        setattr(provider, name, value)
    provider.save(update_fields=list(contact))


def test_without_sms_set_up_it_says_no_code_went_and_what_to_do(account, at, alpha) -> None:  # type: ignore[no-untyped-def]
    _provider_contact(alpha, contact_phone="+254700000999", contact_email="help@alpha.test")
    with tenant_context(alpha):
        sms_ready(sms_enabled=False)
    connection.set_schema_to_public()
    told = registration.MSG_NO_SMS.format(provider="Alpha Water", contact=" at +254700000999 or help@alpha.test",
                                          what="phone number")
    for n, account_number in enumerate(("ALP00042", "NOSUCH1")):  # the provider's setting: the same for all
        refused = start(http(ip=f"198.51.100.{n + 30}"), account_number, "0712000111")
        assert refused.status_code == 400 and told in refused.content.decode()
        assert "we have sent" not in refused.content.decode()
    assert at.messages == []
    by_email = http(ip="198.51.100.40")
    mail.outbox.clear()
    assert start(by_email, "ALP00042", "esther@example.com")["Location"] == "/accounts/register/code/"
    assert len(mail.outbox) == 1


def test_a_code_that_could_not_be_sent_is_never_said_to_be_sent(account, at, alpha) -> None:  # type: ignore[no-untyped-def]
    _provider_contact(alpha, contact_email="help@alpha.test")
    with tenant_context(alpha):
        sms_ready(at_api_key="not-the-key")  # Africa's Talking refuses every message
    connection.set_schema_to_public()
    browser = http()
    assert start(browser, "ALP00042", "0712000111")["Location"] == "/accounts/register/code/"
    page = browser.get("/accounts/register/code/").content.decode()
    assert registration.MSG_NOT_SENT.format(provider="Alpha Water", contact=" at help@alpha.test",
                                            what="phone number") in page
    assert "we have sent" not in page and 'role="alert"' in page
    with tenant_context(alpha):
        assert Message.objects.get(event="registration_code").status == "failed"
    connection.set_schema_to_public()
    # An unknown account still gets the answer a sent code gets, with what to do if none arrives.
    stranger = http(ip="198.51.100.50")
    start(stranger, "NOSUCH1", "0712000111")
    answer = stranger.get("/accounts/register/code/").content.decode()
    assert registration.MSG_MAYBE_SENT.format(provider="Alpha Water", contact=" at help@alpha.test",
                                              what="phone number") in answer
    assert "could not send" not in answer
