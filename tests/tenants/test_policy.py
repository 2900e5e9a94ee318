"""Policy versions (public schema), their pages, the notice of a new version, acceptance at the
next login (per provider), and the cookie notice."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import Client as Http
from django.test import TestCase
from django_tenants.utils import tenant_context

from accounts.models import User
from clients.models import Category, Client
from notifications.models import Consent, Message
from privacy.models import PolicyAcceptance
from tenants.models import POLICY_VERSION, PolicyVersion
from tenants.selectors import current_policy_version
from tenants.services import policy_version_publish
from tests.conftest import API_KEYS, PASSWORD, api_client, host_of, login
from tests.two_factor_helpers import enrolled_admin_login

pytestmark = pytest.mark.django_db


def draft(kind: str = "privacy", version: str = "2026-12-01", **fields: object) -> PolicyVersion:
    values = {"title": "Privacy policy" if kind == "privacy" else "Terms of service",
              "summary": "Payment callbacks are now kept 90 days.",
              "body": "## Callbacks\n\nKept for 90 days after processing.", **fields}
    return PolicyVersion.objects.create(kind=kind, version=version, **values)


def publish(kind: str = "privacy", version: str = "2026-12-01", **fields: object) -> PolicyVersion:
    """Publish a draft; the notice emails are left queued (their fan-out runs after the commit)."""
    connection.set_schema_to_public()
    with TestCase.captureOnCommitCallbacks() as after_commit:
        made = policy_version_publish(version=draft(kind, version, **fields), actor="root@platform.test")
    assert len(after_commit) == 1
    return made


def run_after_commit(callbacks: list) -> None:  # type: ignore[type-arg]
    """What a worker does after the commit: the fan-out to every active provider (eager), then
    each provider's queued messages sent in its own schema (as its send task would)."""
    from notifications.services import send_messages
    from tenants.selectors import active_providers

    for callback in callbacks:
        callback()
    for provider in active_providers():
        with tenant_context(provider):
            send_messages()
    connection.set_schema_to_public()


def as_(email: str, slug: str = "alpha", **extra: str) -> tuple[Http, object]:
    http = Http(HTTP_HOST=host_of(slug), REMOTE_ADDR="203.0.113.9", **extra)
    return http, login(http, email)


def acceptances(slug: str, email: str) -> set[tuple[str, str, str, str]]:
    from tenants.models import Provider

    with tenant_context(Provider.objects.get(slug=slug)):
        user = User.objects.get(email=email)
        rows = {(a.kind, a.version, a.source, a.ip) for a in PolicyAcceptance.objects.filter(user_id=user.pk)}
    connection.set_schema_to_public()
    return rows


# --- versions and their pages ---------------------------------------------------------------------
def test_the_first_versions_are_the_texts_sign_ups_accepted(public_client) -> None:  # type: ignore[no-untyped-def]
    for kind, heading in (("privacy", "Privacy policy"), ("terms", "Terms of service")):
        current = current_policy_version(kind)
        assert (current.version, current.asks_acceptance, current.is_published) == (POLICY_VERSION, False, True)
        page = public_client.get(f"/{kind}/").content.decode()
        assert f"<h1>{heading}</h1>" in page and f"Version {POLICY_VERSION}" in page and "23 November 2026" in page
    assert "Analytics cookies are used only with your consent." in public_client.get("/privacy/").content.decode()
    assert '<a href="/privacy/">privacy policy</a>' in public_client.get("/terms/").content.decode()


def test_a_published_version_is_shown_with_the_earlier_ones_listed(public_client) -> None:  # type: ignore[no-untyped-def]
    draft(version="2027-01-01", body="## Draft\n\nNot yet.")  # a draft is never shown
    publish(body="## Callbacks\n\nKept for 90 days.\n\n<script>alert(1)</script> [terms](/terms/) [x](javascript:alert(1))")
    page = public_client.get("/privacy/").content.decode()
    assert "Version 2026-12-01" in page and "<h2>Callbacks</h2>" in page and "What changed:" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert '<a href="/terms/">terms</a>' in page and 'href="javascript' not in page
    assert f'<a href="/privacy/{POLICY_VERSION}/">{POLICY_VERSION}</a>' in page and "2027-01-01" not in page
    earlier = public_client.get(f"/privacy/{POLICY_VERSION}/").content.decode()
    assert "an earlier version" in earlier and "What we collect" in earlier
    assert public_client.get("/privacy/2027-01-01/").status_code == 404  # a draft
    assert public_client.get("/privacy/1999-01-01/").status_code == 404
    assert current_policy_version("terms").version == POLICY_VERSION  # each kind on its own


def test_a_version_older_than_the_current_or_published_twice_is_refused() -> None:
    from django.core.exceptions import ValidationError

    made = publish()
    with pytest.raises(ValidationError, match="published already"):
        policy_version_publish(version=made, actor="root")
    with pytest.raises(ValidationError, match="newer privacy policy"):
        policy_version_publish(version=draft(version="2026-11-30"), actor="root")


def test_the_portal_and_the_dashboard_link_the_policy_with_its_version(alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        client = Client.objects.create(account_number="POL1", full_name="Carol Chebet",
                                       category=Category.objects.get(code="domestic"),
                                       user=User.objects.get(email="carol@alpha.test"))
    connection.set_schema_to_public()
    carol, _ = as_("carol@alpha.test")
    portal = carol.get("/portal/").content.decode()
    assert f"Privacy policy ({POLICY_VERSION})" in portal
    alice, _ = as_("alice@alpha.test")
    assert f"Privacy policy {POLICY_VERSION}" in alice.get("/dashboard/").content.decode()
    # The texts on the provider's own domain too.
    own = carol.get("/privacy/").content.decode()
    assert "Alpha Water" in own and f"Version {POLICY_VERSION}" in own
    assert client.pk


# --- publishing: the admin action and the notice ----------------------------------------------------
def test_platform_admins_publish_from_the_admin_and_every_active_users_is_emailed(public_client, alpha, beta) -> None:  # type: ignore[no-untyped-def]
    version = draft(summary="We keep payment callbacks for 90 days.")
    enrolled_admin_login(public_client, "root@platform.test")  # Django admin asks for a code (DEBUG off)
    mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks() as after_commit:
        response = public_client.post("/admin/tenants/policyversion/", {
            "action": "publish", "_selected_action": [version.pk]})
    assert response.status_code == 302
    run_after_commit(after_commit)
    version.refresh_from_db()
    assert version.is_published and version.published_by == "root@platform.test"
    assert current_policy_version("privacy").pk == version.pk  # the cache was cleared
    to = sorted(m.to[0] for m in mail.outbox)
    # alpha's five personas and beta's owner; gamma is suspended; the platform admin is not a provider's user.
    assert to == sorted(["alice@alpha.test", "amos@alpha.test", "anne@alpha.test", "ari@alpha.test",
                         "carol@alpha.test", "bob@beta.test"])
    notice = next(m for m in mail.outbox if m.to == ["bob@beta.test"])
    assert notice.subject == "Beta Springs: we have updated our privacy policy"
    assert "We keep payment callbacks for 90 days." in notice.body and "/privacy/2026-12-01/" in notice.body
    assert "beta." in notice.body and "alpha." not in notice.body
    # Once per user and version: running the task again sends nothing more.
    from tenants.tasks import policy_notice_task

    with tenant_context(alpha):
        assert policy_notice_task(version.pk) == 0
        assert Message.objects.filter(event="policy_changed", status="sent").count() == 5
    assert len(mail.outbox) == 6
    # A published version cannot be edited any more (its fields are read-only).
    connection.set_schema_to_public()
    form = public_client.get(f"/admin/tenants/policyversion/{version.pk}/change/").content.decode()
    assert 'name="body"' not in form and "Kept for 90 days" in form


def test_only_platform_admins_reach_the_policy_admin(public_client, alpha_client) -> None:  # type: ignore[no-untyped-def]
    assert public_client.get("/admin/tenants/policyversion/").status_code == 302  # to the admin login
    login(alpha_client, "alice@alpha.test")
    assert alpha_client.get("/admin/tenants/policyversion/").status_code == 404  # no admin on providers' domains


# --- acceptance at the next login -------------------------------------------------------------------
def test_nobody_is_asked_about_the_first_versions() -> None:
    _, response = as_("alice@alpha.test")
    assert response["Location"] == "/"
    http, _ = as_("amos@alpha.test")
    assert http.get("/dashboard/").status_code == 200


def test_after_a_new_version_users_accept_it_at_their_next_login(alpha) -> None:  # type: ignore[no-untyped-def]
    publish()
    publish("terms", "2026-12-01", summary="Plain words on suspension.")
    http = Http(HTTP_HOST=host_of("alpha"), REMOTE_ADDR="203.0.113.9")
    response = http.post("/accounts/login/?next=/dashboard/clients/",
                         {"username": "amos@alpha.test", "password": PASSWORD, "next": "/dashboard/clients/"})
    assert response["Location"] == "/accounts/policy/?next=/dashboard/clients/"
    assert http.get("/dashboard/").status_code == 302  # every page waits for the answer
    page = http.get(response["Location"]).content.decode()
    assert "Payment callbacks are now kept 90 days." in page and "Plain words on suspension." in page
    assert 'href="/privacy/2026-12-01/"' in page and 'href="/terms/2026-12-01/"' in page
    accepted = http.post("/accounts/policy/", {"next": "/dashboard/clients/"})
    assert accepted["Location"] == "/dashboard/clients/"
    assert acceptances("alpha", "amos@alpha.test") == {("privacy", "2026-12-01", "login", "203.0.113.9"),
                                                       ("terms", "2026-12-01", "login", "203.0.113.9")}
    assert http.get("/dashboard/clients/").status_code == 200
    # The next login asks nothing more; a repeated acceptance records nothing twice.
    again, response = as_("amos@alpha.test")
    assert response["Location"] == "/"
    assert again.post("/accounts/policy/", {"next": "/dashboard/"})["Location"] == "/dashboard/"
    assert len(acceptances("alpha", "amos@alpha.test")) == 2
    with tenant_context(alpha):
        from accounts.models import AuditEvent

        assert AuditEvent.objects.filter(action="policy.accepted", actor="amos@alpha.test").count() == 1


def test_a_session_open_when_a_version_is_published_is_asked_on_its_next_page() -> None:
    http, _ = as_("anne@alpha.test")
    assert http.get("/dashboard/").status_code == 200
    publish()
    response = http.get("/dashboard/payments/?page=2")
    assert response.status_code == 302 and response["Location"] == "/accounts/policy/?next=/dashboard/payments/%3Fpage%3D2"
    htmx = http.get("/dashboard/", HTTP_HX_REQUEST="true")
    assert htmx.status_code == 204 and htmx["HX-Redirect"].startswith("/accounts/policy/")


def test_a_client_accepts_and_lands_in_the_portal(alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        Client.objects.create(account_number="POL2", full_name="Carol Chebet", category=Category.objects.get(code="domestic"),
                              user=User.objects.get(email="carol@alpha.test"))
    publish()
    http, response = as_("carol@alpha.test")
    assert response["Location"] == "/accounts/policy/?next=/"
    assert http.get("/portal/").status_code == 302
    assert http.post("/accounts/policy/", {"next": "/"})["Location"] == "/"
    assert http.get("/portal/").status_code == 200
    assert acceptances("alpha", "carol@alpha.test") == {("privacy", "2026-12-01", "login", "203.0.113.9")}


def test_exempt_paths_answer_without_acceptance() -> None:
    publish()
    http, _ = as_("alice@alpha.test")
    assert api_client("alpha", API_KEYS["alpha"]).get("/api/v1/clients/").status_code == 200
    assert http.get("/privacy/").status_code == 200 and http.get("/terms/2026-11-23/").status_code == 200
    assert http.get("/cookies/").status_code == 200
    assert http.post("/accounts/logout/").status_code == 302
    assert Http(HTTP_HOST=host_of("alpha")).get("/accounts/policy/").status_code == 302  # anonymous: log in first


def test_an_acceptance_on_one_provider_does_not_count_on_another(alpha, beta) -> None:  # type: ignore[no-untyped-def]
    publish()
    http, _ = as_("alice@alpha.test")
    http.post("/accounts/policy/", {"next": "/"})
    assert acceptances("alpha", "alice@alpha.test") == {("privacy", "2026-12-01", "login", "203.0.113.9")}
    with tenant_context(beta):
        assert PolicyAcceptance.objects.count() == 0
    connection.set_schema_to_public()
    _, response = as_("bob@beta.test", "beta")
    assert response["Location"] == "/accounts/policy/?next=/"
    # alice's session cookie means nothing on beta's domain.
    beta_http = Http(HTTP_HOST=host_of("beta"))
    beta_http.cookies = http.cookies
    assert beta_http.get("/accounts/policy/")["Location"].startswith("/accounts/login/")


def test_an_offsite_next_is_never_followed() -> None:
    publish()
    http, _ = as_("ari@alpha.test")
    assert http.post("/accounts/policy/", {"next": "https://evil.example/"})["Location"] == "/"


# --- the cookie notice ------------------------------------------------------------------------------
SCRIPT = "https://analytics.example/script.js"


@pytest.mark.parametrize("host", [settings.BASE_DOMAIN, host_of("alpha")])
def test_a_fresh_visitor_gets_essential_cookies_only_until_they_allow_analytics(host, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ANALYTICS_SCRIPT_URL = SCRIPT
    http = Http(HTTP_HOST=host)
    path = "/" if host == settings.BASE_DOMAIN else "/accounts/login/"
    first = http.get(path)
    assert first.status_code == 200
    assert set(first.cookies) <= {"csrftoken", "sessionid"}
    page = first.content.decode()
    assert 'data-testid="cookie-banner"' in page and "Allow analytics?" in page
    assert not re.search(r'<script[^>]+src="' + re.escape(SCRIPT), page)
    chosen = http.post("/cookies/", {"choice": "analytics", "next": path})
    assert chosen.status_code == 302 and chosen["Location"] == path
    assert chosen.cookies["cookie_consent"].value == "analytics"
    after = http.get(path).content.decode()
    assert f'<script src="{SCRIPT}" defer data-analytics></script>' in after and 'data-testid="cookie-banner"' not in after
    # Essential only: no script, no banner; the choice can be changed on /cookies/.
    http.post("/cookies/", {"choice": "essential", "next": path})
    later = http.get(path).content.decode()
    assert SCRIPT not in later.split("</head>")[0] and 'data-testid="cookie-banner"' not in later
    assert "essential cookies only" in http.get("/cookies/").content.decode()


def test_the_banners_script_posts_the_choice_and_a_bad_one_is_refused() -> None:
    http = Http(HTTP_HOST=settings.BASE_DOMAIN)
    response = http.post("/cookies/", {"choice": "analytics"}, HTTP_X_REQUESTED_WITH="fetch")
    assert response.json() == {"choice": "analytics"} and response.cookies["cookie_consent"]["samesite"] == "Lax"
    assert http.post("/cookies/", {"choice": "everything"}).status_code == 400
    assert http.post("/cookies/", {"choice": "essential", "next": "https://evil.example/"})["Location"] == "/cookies/"


def test_a_portal_clients_choice_is_recorded_as_consent_and_staffs_is_not(alpha, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        client = Client.objects.create(account_number="POL3", full_name="Carol Chebet",
                                       category=Category.objects.get(code="domestic"),
                                       user=User.objects.get(email="carol@alpha.test"))
    connection.set_schema_to_public()
    carol, _ = as_("carol@alpha.test")
    carol.post("/cookies/", {"choice": "analytics", "next": "/portal/"})
    carol.post("/cookies/", {"choice": "essential", "next": "/portal/"})
    alice, _ = as_("alice@alpha.test")
    alice.post("/cookies/", {"choice": "analytics"})
    with tenant_context(alpha):
        rows = list(Consent.objects.filter(topic="analytics").order_by("recorded_at", "id"))
        assert [(c.client_id, c.granted, c.source, c.policy_version) for c in rows] == [
            (client.pk, True, "cookie_banner", POLICY_VERSION), (client.pk, False, "cookie_banner", POLICY_VERSION)]
    with tenant_context(beta):
        assert not Consent.objects.filter(topic="analytics").exists()


def test_the_next_privacy_policy_waits_as_a_draft_naming_processors_and_the_odpc() -> None:
    """The migrated draft: not in force until a platform admin publishes it (which emails users
    and asks each to accept it); it says who the processors are and where to complain."""
    connection.set_schema_to_public()
    nxt = PolicyVersion.objects.get(kind="privacy", version="2026-12-10")
    assert not nxt.is_published and nxt.asks_acceptance
    for words in ("Office of the Data Protection Commissioner", "www.odpc.go.ke", "Safaricom", "Africa's Talking",
                  "Paystack", "data processor", "data controller", "72 hours"):
        assert words in nxt.body, words
    current = PolicyVersion.objects.filter(kind="privacy", published_at__isnull=False).first()
    assert current is not None and current.version == "2026-11-23"


def test_a_policy_text_lists_lines_that_start_with_a_dash_and_escapes_everything() -> None:
    from tenants.models import policy_text_html

    html = str(policy_text_html("## Who\n\n- Safaricom: [M-Pesa](https://www.safaricom.co.ke)\n- <b>SMS</b>\n\n"
                                "- one\nnot a list"))
    assert '<h2>Who</h2>' in html
    assert '<ul><li>Safaricom: <a href="https://www.safaricom.co.ke">M-Pesa</a></li><li>&lt;b&gt;SMS&lt;/b&gt;</li></ul>' in html
    assert "<p>- one<br>not a list</p>" in html
    # Links go to a path of this site or to an https address; "//host" and "/\\host" are other
    # sites to a browser, and javascript: is no link at all: each stays as typed.
    links = str(policy_text_html("[ours](/privacy/) [theirs](//evil.example/x) [slash](/\\evil.example) "
                                 "[js](javascript:alert(1)) [plain](http://example.com)"))
    assert links == ('<p><a href="/privacy/">ours</a> [theirs](//evil.example/x) [slash](/\\evil.example) '
                     '[js](javascript:alert(1)) [plain](http://example.com)</p>')
