"""No provider ever sees another's data: users, sessions, API keys, cache, unknown hosts."""

from __future__ import annotations

from django.core.cache import cache
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from tests.conftest import API_KEYS, api_client, login


def test_a_user_of_alpha_cannot_log_in_on_beta(alpha_client: Client, beta_client: Client) -> None:
    assert login(alpha_client, "alice@alpha.test").status_code == 302
    refused = login(beta_client, "alice@alpha.test")
    assert refused.status_code == 200
    assert b"do not match an account here" in refused.content
    assert beta_client.get("/dashboard/").status_code == 302  # still anonymous


def test_alphas_session_cookie_is_not_a_login_on_beta(alpha_client: Client, beta) -> None:  # type: ignore[no-untyped-def]
    login(alpha_client, "alice@alpha.test")
    cookie = alpha_client.cookies["sessionid"].value
    assert alpha_client.get("/dashboard/").status_code == 200
    stranger = Client(HTTP_HOST="beta.majismart.localhost")
    stranger.cookies["sessionid"] = cookie
    response = stranger.get("/dashboard/")
    assert response.status_code == 302 and "/accounts/login/" in response.url
    assert stranger.get("/api/v1/me/").status_code == 401


def test_alphas_api_key_is_refused_on_beta(alpha, beta) -> None:  # type: ignore[no-untyped-def]
    assert api_client("alpha", API_KEYS["alpha"]).get("/api/v1/me/").status_code == 200
    response = api_client("beta", API_KEYS["alpha"]).get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked API key."}
    assert api_client("beta", API_KEYS["beta"]).get("/api/v1/provider/").json()["slug"] == "beta"


def test_an_unknown_host_gets_404(db) -> None:  # type: ignore[no-untyped-def]
    for host in ("nowhere.majismart.localhost", "tenant-base.majismart.localhost", "public.majismart.localhost"):
        assert Client(HTTP_HOST=host).get("/").status_code == 404, host
    assert Client(HTTP_HOST="evil.example.com").get("/").status_code == 404
    assert Client(HTTP_HOST="nowhere.majismart.localhost").get("/api/v1/me/").status_code == 404


def test_the_public_domain_has_no_provider_pages(public_client: Client) -> None:
    assert public_client.get("/dashboard/").status_code == 404
    assert public_client.get("/api/v1/me/").status_code == 404


def test_the_admin_lives_only_on_the_platform_domain(alpha_client: Client) -> None:
    assert alpha_client.get("/admin/").status_code == 404


def test_cache_keys_carry_the_schema(alpha, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        cache.set("greeting", "alpha-only")
        assert cache.get("greeting") == "alpha-only"
    with tenant_context(beta):
        assert cache.get("greeting") is None
    connection.set_schema_to_public()
    assert cache.get("greeting") is None


def test_every_provider_schema_has_its_own_users_table(alpha, beta) -> None:  # type: ignore[no-untyped-def]
    from accounts.models import User

    with tenant_context(alpha):
        alpha_emails = set(User.objects.values_list("email", flat=True))
    with tenant_context(beta):
        beta_emails = set(User.objects.values_list("email", flat=True))
    assert "alice@alpha.test" in alpha_emails and "bob@beta.test" in beta_emails
    assert alpha_emails.isdisjoint(beta_emails)
