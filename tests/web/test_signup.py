from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_exists, tenant_context

from accounts.models import Role, User
from accounts.services import HANDOFF_MAX_AGE
from tenants.forms import MSG_ACCEPT, MSG_ADULT, MSG_PASSWORD_MISMATCH
from tenants.models import Provider
from tenants.services import MSG_NAME_TAKEN, MSG_SLUG_FORMAT, MSG_SLUG_RESERVED, MSG_SLUG_TAKEN

GOOD = {
    "business_name": "Nakuru Springs",
    "subdomain": "nakuru-springs",
    "owner_name": "Naomi Njoroge",
    "owner_email": "naomi@nakuru.test",
    "owner_phone": "0712 345 678",
    "password1": "blue-river-1984",
    "password2": "blue-river-1984",
    "adult": "on",
    "accept_terms": "on",
}


def _errors(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return {name: list(errs) for name, errs in response.context["form"].errors.items()}


def test_it_shows_the_signup_form(public_client: Client) -> None:
    response = public_client.get("/signup/")
    assert response.status_code == 200
    html = response.content.decode()
    for field in ("business_name", "subdomain", "owner_email", "adult", "accept_terms", "password1"):
        assert f'name="{field}"' in html
    assert ".majismart.localhost" in html


def test_it_signs_up_and_lands_the_owner_logged_in_on_their_dashboard(public_client: Client) -> None:
    response = public_client.post("/signup/", GOOD)
    assert response.status_code == 302
    match = re.fullmatch(r"http://nakuru-springs\.majismart\.localhost/accounts/welcome/([^/]+)/", response.url)
    assert match, response.url
    provider = Provider.objects.get(slug="nakuru-springs")
    assert provider.name == "Nakuru Springs" and schema_exists("nakuru-springs")
    with tenant_context(provider):
        owner = User.objects.get(email="naomi@nakuru.test")
        assert owner.role == Role.OWNER and owner.phone == "+254712345678"
    connection.set_schema_to_public()

    tenant = Client(HTTP_HOST="nakuru-springs.majismart.localhost")
    landed = tenant.get(f"/accounts/welcome/{match.group(1)}/", follow=True)
    assert landed.redirect_chain[-1][0] == "/dashboard/"
    assert landed.status_code == 200
    assert b"Welcome, Naomi" in landed.content
    assert landed.context["user"].email == "naomi@nakuru.test"


def test_the_handoff_link_works_once_and_only_on_its_own_domain(public_client: Client, beta) -> None:  # type: ignore[no-untyped-def]
    url = public_client.post("/signup/", GOOD).url
    path = url.split("localhost", 1)[1]
    # Replayed on another provider's domain: no login there.
    other = Client(HTTP_HOST="beta.majismart.localhost")
    assert other.get(path, follow=True).context["user"].is_anonymous
    first = Client(HTTP_HOST="nakuru-springs.majismart.localhost")
    assert first.get(path, follow=True).context["user"].is_authenticated
    second = Client(HTTP_HOST="nakuru-springs.majismart.localhost")
    replay = second.get(path, follow=True)
    assert replay.context["user"].is_anonymous
    assert b"expired" in replay.content


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"subdomain": "www"}, "subdomain", MSG_SLUG_RESERVED),
        ({"subdomain": "admin"}, "subdomain", MSG_SLUG_RESERVED),
        ({"subdomain": "alpha"}, "subdomain", MSG_SLUG_TAKEN),
        ({"subdomain": "no spaces"}, "subdomain", MSG_SLUG_FORMAT),
        ({"subdomain": "Nakuru"}, "subdomain", "Use lowercase letters only."),
        ({"adult": ""}, "adult", MSG_ADULT),
        ({"accept_terms": ""}, "accept_terms", MSG_ACCEPT),
        ({"password1": "short1", "password2": "short1"}, "password1",
         "This password is too short. It must contain at least 10 characters."),
        ({"password1": "password123", "password2": "password123"}, "password1", "This password is too common."),
        ({"password1": "8362017465", "password2": "8362017465"}, "password1", "This password is entirely numeric."),
        ({"password2": "something-else-9"}, "password2", MSG_PASSWORD_MISMATCH),
        ({"business_name": "ALPHA WATER"}, "business_name", MSG_NAME_TAKEN),
        ({"owner_email": "not-an-email"}, "owner_email", "Enter a valid email address."),
        ({"owner_phone": "12345"}, "owner_phone",
         "Enter a valid Kenyan phone number, e.g. 0712 345 678 or +254712345678."),
    ],
)
def test_it_refuses_bad_signups_with_a_clear_message(public_client: Client, changes: dict, field: str, message: str) -> None:
    response = public_client.post("/signup/", {**GOOD, **changes})
    assert response.status_code == 400
    assert message in _errors(response)[field]
    assert message.encode() in response.content or message.replace("'", "&#x27;").encode() in response.content
    assert not Provider.objects.filter(slug=GOOD["subdomain"]).exists()


def test_a_duplicate_submission_creates_one_provider(public_client: Client) -> None:
    assert public_client.post("/signup/", GOOD).status_code == 302
    again = public_client.post("/signup/", GOOD)
    assert again.status_code == 400
    assert MSG_SLUG_TAKEN in _errors(again)["subdomain"]
    assert Provider.objects.filter(slug="nakuru-springs").count() == 1


def test_find_provider_sends_you_to_your_login(public_client: Client, alpha) -> None:  # type: ignore[no-untyped-def]
    response = public_client.post("/login/", {"subdomain": "alpha"})
    assert response.status_code == 302
    assert response.url == "http://alpha.majismart.localhost/accounts/login/"
    missing = public_client.post("/login/", {"subdomain": "nowhere"})
    assert b"could not find a provider" in missing.content
    assert public_client.post("/login/", {"subdomain": "tenant-base"}).status_code == 200


@pytest.mark.parametrize(("path", "heading"), [
    ("/", "Bill every drop, collect every shilling."), ("/privacy/", "Privacy policy"),
    ("/terms/", "Terms of service"), ("/signup/", "Create your provider account"), ("/login/", "Log in"),
])
def test_public_pages_render(public_client: Client, path: str, heading: str) -> None:
    response = public_client.get(path)
    assert response.status_code == 200
    assert f"<h1>{heading}</h1>".encode() in response.content


def test_consent_is_recorded_with_the_policy_version(public_client: Client) -> None:
    from django_tenants.utils import tenant_context

    from privacy.models import PolicyAcceptance
    from tenants.models import ProviderEvent
    from tenants.selectors import current_policy_version

    public_client.post("/signup/", GOOD)
    event = ProviderEvent.objects.get(provider__slug="nakuru-springs", action="created")
    consent = event.extra_data["consent"]
    privacy, terms = current_policy_version("privacy").version, current_policy_version("terms").version
    assert consent["adult_attested"] is True and consent["terms_accepted"] is True
    assert consent["policy"] == privacy and consent["terms"] == terms
    assert consent["ip"] == "127.0.0.1" and consent["at"]
    # The owner's acceptance of those versions is on record in the new schema: never asked again.
    with tenant_context(event.provider):
        rows = {(a.kind, a.version, a.source, a.ip) for a in PolicyAcceptance.objects.all()}
    assert rows == {("privacy", privacy, "signup", "127.0.0.1"), ("terms", terms, "signup", "127.0.0.1")}


def test_sign_ups_are_throttled_per_address(public_client: Client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from web.views import signup as public

    monkeypatch.setattr(public, "SIGNUPS_PER_HOUR_PER_IP", 1)
    assert public_client.post("/signup/", GOOD).status_code == 302
    second = public_client.post("/signup/", {**GOOD, "subdomain": "second-one", "business_name": "Second"})
    assert second.status_code == 429
    assert public.MSG_TOO_MANY_SIGNUPS.encode() in second.content
    assert not Provider.objects.filter(slug="second-one").exists()


def test_the_handoff_link_expires(public_client: Client) -> None:
    import time_machine

    url = public_client.post("/signup/", GOOD).url
    path = url.split("localhost", 1)[1]
    with time_machine.travel(timezone.now() + timedelta(seconds=HANDOFF_MAX_AGE + 5)):
        late = Client(HTTP_HOST="nakuru-springs.majismart.localhost").get(path, follow=True)
    assert late.context["user"].is_anonymous
