"""Two-factor authentication: enrolment, the login's second step (app code, recovery code, wrong
codes, the lockout), the owner's per-role requirement, Django admin with DEBUG off, and
isolation between providers. Codes are computed as an authenticator app does (RFC 6238) from
the device's secret: that is the edge."""

from __future__ import annotations

import re
import time

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from accounts.models import AuditEvent, AuthenticatorDevice, RecoveryCode, User
from tenants.models import Provider
from tests.conftest import PASSWORD, host_of, login
from tests.two_factor_helpers import app_code, code_from_secret, enrol

DASHBOARD = "/dashboard/"
CODE_STEP = "/accounts/login/code/"
TWO_FACTOR = "/dashboard/profile/two-factor/"
SETUP = "/dashboard/profile/two-factor/setup/"
SECURITY = "/dashboard/settings/security/"


def _enrol(provider, email: str):  # type: ignore[no-untyped-def]
    with tenant_context(provider):
        device, codes = enrol(User.objects.get(email=email))
    connection.set_schema_to_public()
    return device, codes


def _audit(provider, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with tenant_context(provider):
        rows = list(AuditEvent.objects.filter(action=action))
    connection.set_schema_to_public()
    return rows


def _logged_in_as(slug: str, email: str) -> Client:
    client = Client(HTTP_HOST=host_of(slug))
    assert login(client, email).status_code == 302
    return client


# --- enrolment ---------------------------------------------------------------------------------

def test_a_staff_user_enrols_with_the_qr_code_or_the_key_and_sees_recovery_codes_once(alpha) -> None:  # type: ignore[no-untyped-def]
    amos = _logged_in_as("alpha", "amos@alpha.test")
    status = amos.get(TWO_FACTOR)
    assert status.status_code == 200 and 'data-testid="two-factor-off"' in status.content.decode()

    page = amos.get(SETUP)
    html = page.content.decode()
    assert page.status_code == 200
    assert '<svg' in html and 'class="qr-code"' in html and "style=" not in html.split('class="qr-box"')[1][:5000]
    secret = re.search(r'data-testid="two-factor-secret">([A-Z2-7 ]+)<', html).group(1)
    # Reloading the page shows the same key until it is confirmed (the app may have scanned it).
    assert secret in amos.get(SETUP).content.decode()

    wrong = amos.post(SETUP, {"code": "000000" if code_from_secret(secret) != "000000" else "111111"})
    assert wrong.status_code == 400 and "That code is not right" in wrong.content.decode()
    # After a wrong code the device waits a second before the next try (then 2, 4, 8...).
    right = code_from_secret(secret)
    assert "wait a few seconds" in amos.post(SETUP, {"code": right}).content.decode()
    time.sleep(2.1)

    done = amos.post(SETUP, {"code": code_from_secret(secret)})
    assert done.status_code == 200 and "no-store" in done["Cache-Control"]
    codes = re.findall(r"<li>([a-z2-7]{4}-[a-z2-7]{4})</li>", done.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "Download as text" in done.content.decode() and "data-print" in done.content.decode()

    # The secret is encrypted at rest and the recovery codes are kept only as digests.
    with tenant_context(alpha):
        device = AuthenticatorDevice.objects.get(user__email="amos@alpha.test", confirmed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT key FROM accounts_authenticatordevice WHERE id = %s", [device.pk])
            stored = cursor.fetchone()[0]
        digests = set(RecoveryCode.objects.filter(device__user=device.user).values_list("digest", flat=True))
    assert stored.startswith("enc1:") and device.key not in stored
    assert len(digests) == 10 and not digests & set(codes) and not digests & {c.replace("-", "") for c in codes}
    connection.set_schema_to_public()

    # The codes are never shown again; the status page says it is on and counts what is left.
    again = amos.get(TWO_FACTOR).content.decode()
    assert 'data-testid="two-factor-on"' in again and not any(c in again for c in codes)
    assert amos.get(SETUP).status_code == 302  # enrolled: nothing to set up
    assert [e.actor for e in _audit(alpha, "auth.two_factor_enrolled")] == ["amos@alpha.test"]


def test_clients_and_visitors_have_no_two_factor_pages(alpha) -> None:  # type: ignore[no-untyped-def]
    carol = _logged_in_as("alpha", "carol@alpha.test")
    assert carol.get(TWO_FACTOR).status_code == 403
    assert carol.get(SETUP).status_code == 403
    anonymous = Client(HTTP_HOST=host_of("alpha"))
    assert anonymous.get(TWO_FACTOR).status_code == 302


# --- logging in --------------------------------------------------------------------------------

def test_login_asks_for_the_code_and_is_not_logged_in_before(alpha) -> None:  # type: ignore[no-untyped-def]
    device, _codes = _enrol(alpha, "anne@alpha.test")
    client = Client(HTTP_HOST=host_of("alpha"))
    first = login(client, "anne@alpha.test")
    assert first.status_code == 302 and first.url == CODE_STEP
    # Halfway: neither the dashboard nor the session-authenticated API let her in.
    assert client.get(DASHBOARD).status_code == 302 and "/accounts/login/" in client.get(DASHBOARD).url
    assert client.get("/api/v1/clients/").status_code in (401, 403)
    assert "Enter your code" in client.get(CODE_STEP).content.decode()

    done = client.post(CODE_STEP, {"code": app_code(device, steps_ahead=1)})
    assert done.status_code == 302
    assert client.get(DASHBOARD).status_code == 200
    assert [e.actor for e in _audit(alpha, "auth.login")].count("anne@alpha.test") == 1


def test_the_next_page_survives_the_code_step(alpha) -> None:  # type: ignore[no-untyped-def]
    device, _codes = _enrol(alpha, "anne@alpha.test")
    client = Client(HTTP_HOST=host_of("alpha"))
    client.post("/accounts/login/", {"username": "anne@alpha.test", "password": PASSWORD, "next": "/dashboard/clients/"})
    done = client.post(CODE_STEP, {"code": app_code(device, steps_ahead=1)})
    assert done.url == "/dashboard/clients/"


def test_a_recovery_code_logs_in_once(alpha) -> None:  # type: ignore[no-untyped-def]
    _device, codes = _enrol(alpha, "anne@alpha.test")
    client = Client(HTTP_HOST=host_of("alpha"))
    login(client, "anne@alpha.test")
    done = client.post(CODE_STEP, {"code": codes[3].upper()}, follow=True)  # typed in capitals: still fine
    assert done.status_code == 200 and "9 left" in done.content.decode()
    client.post("/accounts/logout/")

    login(client, "anne@alpha.test")
    spent = client.post(CODE_STEP, {"code": codes[3]})
    assert spent.status_code == 400 and "That code is not right" in spent.content.decode()
    assert client.get(DASHBOARD).status_code == 302
    # Another unused code still works (after the second the device waits following a wrong one).
    time.sleep(1.1)
    assert client.post(CODE_STEP, {"code": codes[4]}).status_code == 302
    assert client.get(DASHBOARD).status_code == 200


def test_a_wrong_code_is_refused_and_audited(alpha) -> None:  # type: ignore[no-untyped-def]
    device, _codes = _enrol(alpha, "anne@alpha.test")
    client = Client(HTTP_HOST=host_of("alpha"))
    login(client, "anne@alpha.test")
    right = app_code(device, steps_ahead=1)
    wrong = client.post(CODE_STEP, {"code": "123456" if right != "123456" else "654321"})
    assert wrong.status_code == 400 and "That code is not right" in wrong.content.decode()
    assert client.get(DASHBOARD).status_code == 302
    failed = _audit(alpha, "auth.two_factor_failed")
    assert [(e.actor, e.extra_data["step"]) for e in failed] == [("anne@alpha.test", "login")]
    time.sleep(1.1)  # the device waits a second after a wrong code
    assert client.post(CODE_STEP, {"code": right}).status_code == 302
    # The code used a moment ago is not accepted twice.
    client.post("/accounts/logout/")
    login(client, "anne@alpha.test")
    assert client.post(CODE_STEP, {"code": right}).status_code == 400


def test_five_wrong_codes_end_the_pending_login_and_lock_it(alpha) -> None:  # type: ignore[no-untyped-def]
    device, codes = _enrol(alpha, "anne@alpha.test")
    client = Client(HTTP_HOST=host_of("alpha"))
    login(client, "anne@alpha.test")
    for attempt in range(4):
        assert client.post(CODE_STEP, {"code": f"wrong-{attempt}"}).status_code == 400
    fifth = client.post(CODE_STEP, {"code": "wrong-5"})
    assert fifth.status_code == 429 and b"Too many failed attempts" in fifth.content
    # The pending login is gone: even a right code now leads back to the login page...
    gone = client.post(CODE_STEP, {"code": codes[0]})
    assert gone.status_code == 302 and gone.url == "/accounts/login/"
    # ...and the password no longer opens it either (django-axes counted the codes).
    assert login(client, "anne@alpha.test").status_code == 429
    assert client.get(DASHBOARD).status_code == 302
    assert len(_audit(alpha, "auth.two_factor_failed")) == 5
    assert len(_audit(alpha, "auth.locked_out")) >= 1


def test_retyping_the_password_does_not_buy_more_code_attempts(alpha) -> None:  # type: ignore[no-untyped-def]
    _enrol(alpha, "anne@alpha.test")
    client = Client(HTTP_HOST=host_of("alpha"))
    login(client, "anne@alpha.test")
    for attempt in range(3):
        client.post(CODE_STEP, {"code": f"wrong-{attempt}"})
    assert login(client, "anne@alpha.test").url == CODE_STEP
    client.post(CODE_STEP, {"code": "wrong-3"})
    assert client.post(CODE_STEP, {"code": "wrong-4"}).status_code == 429


def test_the_sign_up_hand_off_asks_an_enrolled_owner_for_the_code(alpha) -> None:  # type: ignore[no-untyped-def]
    from accounts.services import handoff_token_make

    device, _codes = _enrol(alpha, "alice@alpha.test")
    with tenant_context(alpha):
        token = handoff_token_make(User.objects.get(email="alice@alpha.test"))
    connection.set_schema_to_public()
    client = Client(HTTP_HOST=host_of("alpha"))
    assert client.get(f"/accounts/welcome/{token}/").url == CODE_STEP
    assert client.get(DASHBOARD).status_code == 302
    assert client.post(CODE_STEP, {"code": app_code(device, steps_ahead=1)}).url == DASHBOARD
    assert client.get(DASHBOARD).status_code == 200


def test_a_user_without_two_factor_logs_in_as_before(alpha) -> None:  # type: ignore[no-untyped-def]
    client = Client(HTTP_HOST=host_of("alpha"))
    assert login(client, "amos@alpha.test").url == "/"
    assert client.get(DASHBOARD).status_code == 200


def test_the_code_step_without_a_password_first_goes_to_the_login(alpha) -> None:  # type: ignore[no-untyped-def]
    client = Client(HTTP_HOST=host_of("alpha"))
    response = client.post(CODE_STEP, {"code": "123456"})
    assert response.status_code == 302 and response.url == "/accounts/login/"


# --- recovery codes and turning it off ---------------------------------------------------------

def test_new_recovery_codes_replace_the_old(alpha) -> None:  # type: ignore[no-untyped-def]
    device, old = _enrol(alpha, "anne@alpha.test")
    anne = Client(HTTP_HOST=host_of("alpha"))
    login(anne, "anne@alpha.test")
    anne.post(CODE_STEP, {"code": old[0]})
    assert anne.post("/dashboard/profile/two-factor/recovery-codes/", {"password": "nope"}).status_code == 400
    made = anne.post("/dashboard/profile/two-factor/recovery-codes/", {"password": PASSWORD})
    new = re.findall(r"<li>([a-z2-7]{4}-[a-z2-7]{4})</li>", made.content.decode())
    assert made.status_code == 200 and len(new) == 10 and not set(new) & set(old)
    assert len(_audit(alpha, "auth.recovery_codes_regenerated")) == 1
    anne.post("/accounts/logout/")
    login(anne, "anne@alpha.test")
    assert anne.post(CODE_STEP, {"code": old[1]}).status_code == 400
    time.sleep(1.1)
    assert anne.post(CODE_STEP, {"code": new[1]}).status_code == 302


def test_turning_it_off_takes_the_password_and_a_code(alpha) -> None:  # type: ignore[no-untyped-def]
    device, codes = _enrol(alpha, "anne@alpha.test")
    anne = Client(HTTP_HOST=host_of("alpha"))
    login(anne, "anne@alpha.test")
    anne.post(CODE_STEP, {"code": codes[0]})
    refused = anne.post("/dashboard/profile/two-factor/disable/", {"password": PASSWORD, "code": "nope-nope"})
    assert refused.status_code == 400
    assert anne.post("/dashboard/profile/two-factor/disable/", {"password": "wrong", "code": codes[1]}).status_code == 400
    with tenant_context(alpha):
        assert AuthenticatorDevice.objects.filter(user__email="anne@alpha.test").exists()
    connection.set_schema_to_public()
    time.sleep(1.1)
    off = anne.post("/dashboard/profile/two-factor/disable/", {"password": PASSWORD, "code": codes[2]})
    assert off.status_code == 302
    with tenant_context(alpha):
        assert not AuthenticatorDevice.objects.filter(user__email="anne@alpha.test").exists()
        assert not RecoveryCode.objects.filter(device__user__email="anne@alpha.test").exists()
    connection.set_schema_to_public()
    assert len(_audit(alpha, "auth.two_factor_disabled")) == 1
    anne.post("/accounts/logout/")
    assert login(anne, "anne@alpha.test").url == "/"  # no code asked any more


# --- the owner's rule ---------------------------------------------------------------------------

def test_the_owner_requires_it_for_meter_readers_who_must_enrol_first(alpha, alpha_api) -> None:  # type: ignore[no-untyped-def]
    alice = _logged_in_as("alpha", "alice@alpha.test")
    page = alice.get(SECURITY)
    assert page.status_code == 200 and 'data-testid="enrolled-meter_reader">0 of 1 set up' in page.content.decode()
    assert 'href="/dashboard/settings/security/"' in alice.get("/dashboard/settings/").content.decode()
    assert alice.post(SECURITY, {"two_factor_roles": ["meter_reader", "manager"]}).status_code == 302
    assert Provider.objects.get(pk=alpha.pk).two_factor_roles == ["manager", "meter_reader"]
    changed = _audit(alpha, "security.settings_changed")
    assert [(e.category, e.extra_data["after"]) for e in changed] == [("settings", ["manager", "meter_reader"])]

    ari = Client(HTTP_HOST=host_of("alpha"))
    login(ari, "ari@alpha.test")
    for path in (DASHBOARD, "/dashboard/readings/", "/dashboard/clients/"):
        response = ari.get(path)
        assert response.status_code == 302 and response.url == TWO_FACTOR, path
    assert 'data-testid="two-factor-required"' in ari.get(TWO_FACTOR).content.decode()
    # The session-authenticated API is closed too; an API key (not a user) is not affected.
    assert ari.get("/api/v1/clients/").status_code == 403
    assert alpha_api.get("/api/v1/clients/").status_code == 200
    # Accountants are not required: Anne goes on as before.
    assert _logged_in_as("alpha", "anne@alpha.test").get(DASHBOARD).status_code == 200

    # Ari enrols; then every page opens, and he cannot turn it off.
    secret = re.search(r'data-testid="two-factor-secret">([A-Z2-7 ]+)<', ari.get(SETUP).content.decode()).group(1)
    assert ari.post(SETUP, {"code": code_from_secret(secret)}).status_code == 200
    assert ari.get(DASHBOARD).status_code == 200
    refused = ari.post("/dashboard/profile/two-factor/disable/", {"password": PASSWORD, "code": "x"})
    assert refused.status_code == 302
    with tenant_context(alpha):
        assert AuthenticatorDevice.objects.filter(user__email="ari@alpha.test", confirmed=True).exists()
    connection.set_schema_to_public()
    assert 'data-testid="enrolled-meter_reader">1 of 1 set up' in alice.get(SECURITY).content.decode()


def test_a_required_user_can_still_log_out(alpha) -> None:  # type: ignore[no-untyped-def]
    Provider.objects.filter(pk=alpha.pk).update(two_factor_roles=["accountant"])
    anne = _logged_in_as("alpha", "anne@alpha.test")
    assert anne.get(DASHBOARD).url == TWO_FACTOR
    assert anne.post("/accounts/logout/").status_code == 302
    assert anne.get(DASHBOARD).url.startswith("/accounts/login/")


def test_settings_links_each_role_to_what_it_may_open(alpha) -> None:  # type: ignore[no-untyped-def]
    for email, owner in (("alice@alpha.test", True), ("amos@alpha.test", False), ("ari@alpha.test", False)):
        html = _logged_in_as("alpha", email).get("/dashboard/settings/").content.decode()
        assert f'href="{TWO_FACTOR}"' in html, email
        assert (f'href="{SECURITY}"' in html) is owner, email


def test_the_security_page_counts_enrolment_in_constant_queries(alpha) -> None:  # type: ignore[no-untyped-def]
    from django.test.utils import CaptureQueriesContext

    from accounts.two_factor import enrol_directly

    alice = _logged_in_as("alpha", "alice@alpha.test")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice.get(SECURITY).status_code == 200
        return len(captured)

    before = queries()
    with tenant_context(alpha):
        for i in range(6):
            user = User.objects.create_user(f"reader{i}@alpha.test", PASSWORD, role="meter_reader")
            if i % 2:
                enrol_directly(user=user, actor="test")
    connection.set_schema_to_public()
    assert queries() == before
    assert 'data-testid="enrolled-meter_reader">3 of 7 set up' in alice.get(SECURITY).content.decode()


def test_only_the_owner_sets_the_rule(alpha) -> None:  # type: ignore[no-untyped-def]
    for email in ("amos@alpha.test", "anne@alpha.test", "ari@alpha.test", "carol@alpha.test"):
        client = _logged_in_as("alpha", email)
        assert client.get(SECURITY).status_code == 403, email
        assert client.post(SECURITY, {"two_factor_roles": ["owner"]}).status_code == 403, email
    assert Provider.objects.get(pk=alpha.pk).two_factor_roles == []
    assert Client(HTTP_HOST=host_of("alpha")).get(SECURITY).status_code == 302


def test_a_bad_role_is_refused(alpha) -> None:  # type: ignore[no-untyped-def]
    alice = _logged_in_as("alpha", "alice@alpha.test")
    assert alice.post(SECURITY, {"two_factor_roles": ["client"]}).status_code == 400
    assert Provider.objects.get(pk=alpha.pk).two_factor_roles == []


# --- between providers --------------------------------------------------------------------------

def test_alphas_device_and_pending_login_mean_nothing_at_beta(alpha, beta) -> None:  # type: ignore[no-untyped-def]
    alpha_device, alpha_codes = _enrol(alpha, "alice@alpha.test")
    bob_device, _ = _enrol(beta, "bob@beta.test")
    # Alice halfway through her login at alpha; her session cookie means nothing on beta's domain.
    alice = Client(HTTP_HOST=host_of("alpha"))
    login(alice, "alice@alpha.test")
    cookie = alice.cookies["sessionid"].value
    elsewhere = Client(HTTP_HOST=host_of("beta"))
    elsewhere.cookies["sessionid"] = cookie
    assert elsewhere.post(CODE_STEP, {"code": alpha_codes[0]}).url == "/accounts/login/"
    # Nor does a finished login's: alpha's owner is nobody on beta's pages.
    assert alice.post(CODE_STEP, {"code": alpha_codes[0]}).status_code == 302
    elsewhere.cookies["sessionid"] = alice.cookies["sessionid"].value
    assert elsewhere.get(SECURITY).status_code == 302 and elsewhere.get(TWO_FACTOR).status_code == 302
    assert elsewhere.post(SECURITY, {"two_factor_roles": ["owner"]}).status_code == 302
    assert Provider.objects.get(pk=beta.pk).two_factor_roles == []

    # Bob at beta: alpha's codes (app and recovery) do not open his login.
    bob = Client(HTTP_HOST=host_of("beta"))
    assert login(bob, "bob@beta.test").url == CODE_STEP
    alpha_now = app_code(alpha_device, steps_ahead=1)
    if alpha_now != app_code(bob_device, steps_ahead=1):  # one chance in a million they match
        assert bob.post(CODE_STEP, {"code": alpha_now}).status_code == 400
    assert bob.post(CODE_STEP, {"code": alpha_codes[1]}).status_code == 400
    assert bob.get(DASHBOARD).status_code == 302
    # Alpha's rule does not reach beta.
    Provider.objects.filter(pk=alpha.pk).update(two_factor_roles=["owner", "manager"])
    with tenant_context(beta):
        AuthenticatorDevice.objects.filter(user__email="bob@beta.test").delete()
    connection.set_schema_to_public()
    assert _logged_in_as("beta", "bob@beta.test").get(DASHBOARD).status_code == 200


# --- platform admins ----------------------------------------------------------------------------

def test_django_admin_requires_a_code_when_debug_is_off(public_client: Client) -> None:
    from accounts.two_factor import enrol_directly

    no_code = public_client.post("/admin/login/", {"username": "root@platform.test", "password": PASSWORD})
    assert no_code.status_code == 200 and b"six-digit code" in no_code.content
    assert public_client.get("/admin/tenants/provider/").status_code == 302
    root = User.objects.get(email="root@platform.test")
    device, codes = enrol_directly(user=root, actor="test")
    wrong = public_client.post("/admin/login/", {"username": "root@platform.test", "password": PASSWORD,
                                                 "otp_token": "000000" if app_code(device) != "000000" else "111111"})
    assert wrong.status_code == 200 and b"not right" in wrong.content
    assert public_client.get("/admin/tenants/provider/").status_code == 302
    ok = public_client.post("/admin/login/", {"username": "root@platform.test", "password": PASSWORD,
                                              "otp_token": codes[0], "next": "/admin/"})
    assert ok.status_code == 302 and ok.url == "/admin/"
    assert public_client.get("/admin/tenants/provider/").status_code == 200


def test_a_password_only_admin_session_is_not_enough(public_client: Client) -> None:
    # A session logged in without a code (e.g. from before the rule) is not let into the admin.
    public_client.force_login(User.objects.get(email="root@platform.test"))
    assert public_client.get("/admin/tenants/provider/").status_code == 302


def test_with_debug_on_the_admin_works_as_before(public_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEBUG = True
    response = public_client.post("/admin/login/", {"username": "root@platform.test", "password": PASSWORD,
                                                    "next": "/admin/"})
    assert response.status_code == 302 and response.url == "/admin/"
    assert public_client.get("/admin/tenants/provider/").status_code == 200


def test_enrol_admin_2fa_prints_what_the_admin_needs(public_client: Client, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from io import StringIO

    out = StringIO()
    call_command("enrol_admin_2fa", "root@platform.test", "--svg", str(tmp_path / "qr.svg"), stdout=out)
    text = out.getvalue()
    assert "otpauth://totp/MajiSmart%20admin%3Aroot%40platform.test?secret=" in text
    assert (tmp_path / "qr.svg").read_text().startswith("<svg")
    codes = re.findall(r"^  ([a-z2-7]{4}-[a-z2-7]{4})$", text, re.MULTILINE)
    assert len(codes) == 10
    secret = re.search(r"Setup key:\s+([A-Z2-7 ]+)", text).group(1).strip()
    response = public_client.post("/admin/login/", {"username": "root@platform.test", "password": PASSWORD,
                                                    "otp_token": code_from_secret(secret), "next": "/admin/"})
    assert response.status_code == 302
    # A second run refuses to replace the device silently.
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("enrol_admin_2fa", "root@platform.test", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("enrol_admin_2fa", "alice@alpha.test", stdout=StringIO())  # not a platform admin


def test_reset_two_factor_removes_a_staff_members_devices(alpha) -> None:  # type: ignore[no-untyped-def]
    from io import StringIO

    _enrol(alpha, "anne@alpha.test")
    call_command("reset_two_factor", "alpha", "anne@alpha.test", stdout=StringIO())
    assert login(Client(HTTP_HOST=host_of("alpha")), "anne@alpha.test").url == "/"
    assert [e.actor for e in _audit(alpha, "auth.two_factor_disabled")] == ["reset_two_factor"]
