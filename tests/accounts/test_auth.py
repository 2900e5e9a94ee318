from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django_tenants.utils import tenant_context

from accounts.models import STAFF_ROLES, Role
from accounts.permissions import CAPABILITIES, has_capability
from tests.conftest import ALPHA_PEOPLE, PASSWORD, host_of, login


def test_login_is_by_email_case_insensitively(alpha_client: Client) -> None:
    response = login(alpha_client, "  ALICE@Alpha.TEST ".strip())
    assert response.status_code == 302
    assert alpha_client.get("/").url == "/dashboard/"


def test_a_wrong_password_shows_the_form_with_an_error(alpha_client: Client) -> None:
    response = login(alpha_client, "alice@alpha.test", "wrong-password")
    assert response.status_code == 200
    assert b"That email and password do not match an account here." in response.content


def test_logout_ends_the_session(alpha_client: Client) -> None:
    login(alpha_client, "alice@alpha.test")
    assert alpha_client.post("/accounts/logout/").status_code == 302
    assert alpha_client.get("/dashboard/").status_code == 302


@pytest.mark.parametrize(("persona", "landing"), [("alice", "/dashboard/"), ("ari", "/dashboard/"), ("carol", "/portal/")])
def test_home_sends_staff_to_the_dashboard_and_clients_to_the_portal(alpha_client: Client, persona: str, landing: str) -> None:
    login(alpha_client, ALPHA_PEOPLE[persona].email)
    assert alpha_client.get("/").url == landing
    assert alpha_client.get(landing).status_code == 200


def test_a_client_cannot_open_the_dashboard_and_staff_cannot_open_the_portal(alpha_client: Client) -> None:
    login(alpha_client, "carol@alpha.test")
    assert alpha_client.get("/dashboard/").status_code == 403
    staff = Client(HTTP_HOST="alpha.majismart.localhost")
    login(staff, "alice@alpha.test")
    assert staff.get("/portal/").status_code == 403


def test_password_reset_by_email(alpha_client: Client) -> None:
    response = alpha_client.post("/accounts/password-reset/", {"email": "amos@alpha.test"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["amos@alpha.test"]
    assert "Alpha Water" in message.subject
    link = re.search(r"http://alpha\.majismart\.localhost(/accounts/reset/\S+/)", message.body).group(1)
    form_page = alpha_client.get(link, follow=True)
    assert form_page.status_code == 200
    set_url = form_page.redirect_chain[-1][0]
    done = alpha_client.post(set_url, {"new_password1": "fresh-water-2027", "new_password2": "fresh-water-2027"})
    assert done.status_code == 302
    assert login(Client(HTTP_HOST="alpha.majismart.localhost"), "amos@alpha.test", "fresh-water-2027").status_code == 302
    assert login(Client(HTTP_HOST="alpha.majismart.localhost"), "amos@alpha.test", PASSWORD).status_code == 200


def test_the_reset_link_names_the_providers_own_domain_whatever_the_host_header(alpha) -> None:  # type: ignore[no-untyped-def]
    spoofed = Client(HTTP_HOST="alpha.majismart.localhost:6666")
    spoofed.post("/accounts/password-reset/", {"email": "amos@alpha.test"})
    assert "http://alpha.majismart.localhost/accounts/reset/" in mail.outbox[0].body
    assert ":6666" not in mail.outbox[0].body


def test_login_next_stays_on_this_domain(alpha_client: Client) -> None:
    for target in ("//evil.example.com/", "http://beta.majismart.localhost/dashboard/"):
        response = alpha_client.post(f"/accounts/login/?next={target}",
                                     {"username": "alice@alpha.test", "password": PASSWORD, "next": target})
        assert response.status_code == 302 and response.url == "/", target
        alpha_client.post("/accounts/logout/")


def test_password_reset_for_another_providers_user_sends_nothing(beta_client: Client) -> None:
    beta_client.post("/accounts/password-reset/", {"email": "amos@alpha.test"})
    assert mail.outbox == []


def test_repeated_failures_lock_the_account_out(alpha_client: Client) -> None:
    for _ in range(5):
        login(alpha_client, "anne@alpha.test", "not-her-password")
    locked = login(alpha_client, "anne@alpha.test", PASSWORD)
    assert locked.status_code == 429
    assert b"Too many failed attempts" in locked.content


def test_the_lockout_on_alpha_does_not_lock_beta(alpha_client: Client, beta_client: Client) -> None:
    for _ in range(5):
        login(alpha_client, "bob@beta.test", "guess")
    assert login(beta_client, "bob@beta.test").status_code == 302


PROXY = "10.0.0.1"  # our reverse proxy: every request reaches gunicorn from it


def behind_proxy(forwarded_for: str) -> Client:
    """A browser behind our one trusted proxy, which appends the address it saw to X-Forwarded-For."""
    return Client(HTTP_HOST=host_of("alpha"), REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for)


def test_behind_a_proxy_the_lockout_is_the_real_clients_not_everyones(alpha, settings) -> None:  # type: ignore[no-untyped-def]
    from axes.models import AccessAttempt, AccessLog

    settings.TRUSTED_PROXY_COUNT = 1
    attacker, colleague = behind_proxy("198.51.100.10"), behind_proxy("203.0.113.20")
    for _ in range(5):
        login(attacker, "anne@alpha.test", "not-her-password")
    assert login(attacker, "anne@alpha.test", PASSWORD).status_code == 429
    # Anne at her own desk still gets in: the proxy's address was never what axes counted.
    assert login(colleague, "anne@alpha.test", PASSWORD).status_code == 302
    with tenant_context(alpha):
        attempts = AccessAttempt.objects.filter(username="anne@alpha.test")
        assert list(attempts.values_list("ip_address", flat=True)) == ["198.51.100.10"]
        assert list(AccessLog.objects.filter(username="anne@alpha.test").values_list("ip_address", flat=True)) == ["203.0.113.20"]
        assert not AccessAttempt.objects.filter(ip_address=PROXY).exists() and not AccessLog.objects.filter(ip_address=PROXY).exists()


def test_a_forged_forwarded_for_entry_neither_dodges_nor_aims_the_lockout(alpha, settings) -> None:  # type: ignore[no-untyped-def]
    from axes.models import AccessAttempt

    settings.TRUSTED_PROXY_COUNT = 1
    # The attacker writes a different address of its own into X-Forwarded-For each time; the proxy
    # appends the one it really saw, and only that rightmost hop is trusted.
    for n in range(5):
        login(behind_proxy(f"192.0.2.{n + 1}, 198.51.100.10"), "ari@alpha.test", "guess")
    assert login(behind_proxy("192.0.2.99, 198.51.100.10"), "ari@alpha.test", PASSWORD).status_code == 429
    assert login(behind_proxy("198.51.100.10"), "ari@alpha.test", PASSWORD).status_code == 429
    # Naming the victim's address on the left did not lock the victim out either.
    assert login(behind_proxy("203.0.113.20"), "ari@alpha.test", PASSWORD).status_code == 302
    with tenant_context(alpha):
        assert list(AccessAttempt.objects.filter(username="ari@alpha.test").values_list("ip_address", flat=True)) == [
            "198.51.100.10"]


def test_without_a_trusted_proxy_forwarded_for_is_ignored(alpha, settings) -> None:  # type: ignore[no-untyped-def]
    from axes.models import AccessAttempt

    settings.TRUSTED_PROXY_COUNT = 0
    for n in range(5):
        login(Client(HTTP_HOST=host_of("alpha"), REMOTE_ADDR="198.51.100.30", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}"),
              "amos@alpha.test", "guess")
    again = Client(HTTP_HOST=host_of("alpha"), REMOTE_ADDR="198.51.100.30", HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert login(again, "amos@alpha.test", PASSWORD).status_code == 429
    with tenant_context(alpha):
        assert list(AccessAttempt.objects.filter(username="amos@alpha.test").values_list("ip_address", flat=True)) == [
            "198.51.100.30"]


def test_one_permission_map_covers_every_role() -> None:
    assert has_capability(type("U", (), {"is_authenticated": True, "role": Role.OWNER})(), "api_keys.manage")
    reader = type("U", (), {"is_authenticated": True, "role": Role.METER_READER})()
    assert has_capability(reader, "readings.record")
    assert not has_capability(reader, "billing.run")
    assert not has_capability(reader, "api_keys.manage")
    client = type("U", (), {"is_authenticated": True, "role": Role.CLIENT})()
    assert not any(has_capability(client, cap) for cap in CAPABILITIES if cap != "portal.use")
    anonymous = type("U", (), {"is_authenticated": False, "role": Role.OWNER})()
    assert not has_capability(anonymous, "dashboard.view")
    assert CAPABILITIES["dashboard.view"] == STAFF_ROLES
    with pytest.raises(KeyError):
        has_capability(reader, "no.such.capability")
