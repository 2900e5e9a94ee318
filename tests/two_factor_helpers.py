"""Two-factor test helpers: an authenticator app's side of TOTP (the edge), and enrolment."""

from __future__ import annotations

import time

from django_otp.oath import TOTP


def app_code(device, *, steps_ahead: int = 0) -> str:  # type: ignore[no-untyped-def]
    """The six digits an authenticator app with `device`'s secret shows now (or `steps_ahead`
    30-second steps later: within the server's one-step tolerance, and past a code just used)."""
    totp = TOTP(device.bin_key, step=30, t0=0, digits=6)
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def code_from_secret(secret_text: str, *, steps_ahead: int = 0) -> str:
    """The same from the setup key as the page shows it (base32 in groups of four)."""
    import base64

    raw = secret_text.replace(" ", "")
    key = base64.b32decode(raw + "=" * (-len(raw) % 8))
    totp = TOTP(key, step=30, t0=0, digits=6)
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def enrol(user):  # type: ignore[no-untyped-def]
    """`user` with a confirmed authenticator (enrolled through the service, as the page does):
    returns the device and the ten recovery codes."""
    from accounts.two_factor import enrolment_confirm, enrolment_device

    device = enrolment_device(user)
    codes = enrolment_confirm(user=user, code=app_code(device))
    assert codes is not None
    device.refresh_from_db()
    return device, codes


def enrolled_admin_login(client, email: str):  # type: ignore[no-untyped-def]
    """Tests run with DEBUG off, so Django admin asks for a two-factor code: the admin is given
    an authenticator as `manage.py enrol_admin_2fa` does, and logs in with its current code."""
    from accounts.models import User
    from accounts.two_factor import enrol_directly
    from tests.conftest import PASSWORD

    device, _codes = enrol_directly(user=User.objects.get(email=email), actor="test")
    return client.post("/admin/login/", {"username": email, "password": PASSWORD, "otp_token": app_code(device),
                                         "next": "/admin/"})
