"""Two-factor authentication: an authenticator app (TOTP) and one-time recovery codes.

The login never authenticates a session before the second step: after a correct password, a
user with an authenticator is remembered in the (anonymous) session as a *pending* login, and
`django.contrib.auth.login` runs only once a code from the app or a recovery code checks out
(accounts/views/two_factor.py). So every view, the session-authenticated API included, sees an
anonymous visitor until then; nothing has to ask "verified?" on each request. Five wrong codes
end the pending login, and each wrong code counts as a failed login for django-axes, so typing
the password again does not buy five more tries (the lockout stops the password step too).

The owner can require two-factor authentication per staff role (Provider.two_factor_roles,
Settings → Security); TwoFactorRequiredMiddleware then sends a signed-in user of such a role
who has no authenticator to the enrolment page and nowhere else (logging out stays open).
API keys are not users and are not affected.

Devices live in each provider's schema beside its users (accounts models, see models.py for
why not django-otp's stock devices): the authenticator secret is encrypted at rest, recovery
codes are kept as keyed digests only.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp.util import random_hex

from accounts.models import (
    STAFF_ROLES,
    TOTP_DIGITS,
    TOTP_STEP,
    AuditCategory,
    AuthenticatorDevice,
    RecoveryCode,
    RecoveryCodeDevice,
    Role,
    User,
    recovery_code_digest,
    recovery_code_normalise,
)
from accounts.services import audit

RECOVERY_CODE_COUNT = 10
MAX_CODE_FAILURES = 5  # wrong codes that end a pending login
PENDING_MAX_AGE = 600  # seconds between the password and the code
PENDING_SESSION_KEY = "two_factor_pending"
ENROLLED_SESSION_KEY = "two_factor_enrolled"  # this session's user has an authenticator

MSG_POLICY_ROLES = "Choose staff roles only."


# --- reading ------------------------------------------------------------------------------

def authenticator_for(user: User) -> AuthenticatorDevice | None:
    return AuthenticatorDevice.objects.filter(user=user, confirmed=True).first()


def is_enrolled(user: User) -> bool:
    return AuthenticatorDevice.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_left(user: User) -> int:
    return RecoveryCode.objects.filter(device__user=user, device__confirmed=True).count()


def role_requires_two_factor(tenant: Any, role: str) -> bool:
    return role in STAFF_ROLES and role in (getattr(tenant, "two_factor_roles", None) or [])


def secret_text(device: AuthenticatorDevice) -> str:
    """The secret as an authenticator app's "enter a setup key" expects it: base32, in fours."""
    raw = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def otpauth_uri(device: AuthenticatorDevice, issuer: str) -> str:
    """The otpauth:// URI the QR code carries (Google's Key URI format, which every app reads)."""
    issuer = (issuer or "MajiSmart").replace(":", "")
    label = f"{issuer}:{device.user.email}"
    params = {"secret": base64.b32encode(device.bin_key).decode().rstrip("="), "issuer": issuer,
              "algorithm": "SHA1", "digits": TOTP_DIGITS, "period": TOTP_STEP}
    return f"otpauth://totp/{quote(label)}?{urlencode(params, quote_via=quote)}"


def qr_svg(data: str) -> str:
    """The QR code as inline SVG markup (no style attribute, no script: the CSP allows it)."""
    import segno

    return segno.make(data, error="m").svg_inline(scale=4, omitsize=True, svgclass="qr-code",
                                                  title="QR code for your authenticator app")


# --- enrolment ------------------------------------------------------------------------------

@transaction.atomic
def enrolment_device(user: User, *, restart: bool = False) -> AuthenticatorDevice:
    """The unconfirmed authenticator being set up (a new secret unless one is waiting)."""
    waiting = AuthenticatorDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if waiting is not None and not restart:
        return waiting
    AuthenticatorDevice.objects.filter(user=user, confirmed=False).delete()
    return AuthenticatorDevice.objects.create(user=user, name="Authenticator app", key=random_hex(20),
                                              confirmed=False)


@transaction.atomic
def enrolment_confirm(*, user: User, code: str) -> list[str] | None:
    """Confirms the waiting authenticator with a code it shows; returns the new recovery codes
    (shown once), or None when the code is wrong."""
    device = (AuthenticatorDevice.objects.select_for_update()
              .filter(user=user, confirmed=False).order_by("-pk").first())
    if device is None or not device.verify_token(code):
        return None
    AuthenticatorDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _recovery_codes_issue(user)
    audit(actor=user, action="auth.two_factor_enrolled", category=AuditCategory.AUTH,
          object_repr=f"user {user.pk}", target=("user", user.pk), role=user.role)
    return codes


@transaction.atomic
def enrol_directly(*, user: User, actor: object) -> tuple[AuthenticatorDevice, list[str]]:
    """A confirmed authenticator and recovery codes at once, replacing any: for a platform admin
    enrolled from the command line by an operator (manage.py enrol_admin_2fa)."""
    AuthenticatorDevice.objects.filter(user=user).delete()
    device = AuthenticatorDevice.objects.create(user=user, name="Authenticator app", key=random_hex(20),
                                                confirmed=True)
    codes = _recovery_codes_issue(user)
    audit(actor=actor, action="auth.two_factor_enrolled", category=AuditCategory.AUTH,
          object_repr=f"user {user.pk}", target=("user", user.pk), via="command")
    return device, codes


def _new_recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(5)).decode().lower()  # 8 characters, 40 bits
    return f"{raw[:4]}-{raw[4:]}"


def _recovery_codes_issue(user: User) -> list[str]:
    RecoveryCodeDevice.objects.filter(user=user).delete()
    device = RecoveryCodeDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(RecoveryCode(device=device, digest=recovery_code_digest(c)) for c in codes)
    return codes


@transaction.atomic
def recovery_codes_regenerate(*, user: User) -> list[str]:
    """Ten new recovery codes; the old ones stop working."""
    codes = _recovery_codes_issue(user)
    audit(actor=user, action="auth.recovery_codes_regenerated", category=AuditCategory.AUTH,
          object_repr=f"user {user.pk}", target=("user", user.pk))
    return codes


@transaction.atomic
def two_factor_disable(*, user: User, actor: object) -> None:
    AuthenticatorDevice.objects.filter(user=user).delete()
    RecoveryCodeDevice.objects.filter(user=user).delete()
    audit(actor=actor, action="auth.two_factor_disabled", category=AuditCategory.AUTH,
          object_repr=f"user {user.pk}", target=("user", user.pk))


# --- verifying ------------------------------------------------------------------------------

def looks_like_totp(code: str) -> bool:
    digits = code.replace(" ", "").strip()
    return digits.isdigit() and len(digits) == TOTP_DIGITS


def _device_for_code(user: User, code: str, *, for_update: bool = False) -> AuthenticatorDevice | RecoveryCodeDevice | None:
    if looks_like_totp(code):
        devices = AuthenticatorDevice.objects.filter(user=user, confirmed=True)
    elif recovery_code_normalise(code):
        devices = RecoveryCodeDevice.objects.filter(user=user, confirmed=True)
    else:
        return None
    return (devices.select_for_update() if for_update else devices).first()


def is_throttled(user: User, code: str) -> bool:
    """Whether the device `code` is meant for refuses tries for now (after wrong codes it waits
    1, 2, 4, 8... seconds between tries), so the page can say "wait" rather than "wrong"."""
    device = _device_for_code(user, (code or "").strip())
    return device is not None and not device.verify_is_allowed()[0]


def verify_code(user: User, code: str) -> AuthenticatorDevice | RecoveryCodeDevice | None:
    """The device that accepts `code`: six digits go to the authenticator, anything else is
    tried as a recovery code (spent on success). Only the device the code was meant for counts
    the failure, so a wrong app code never throttles the recovery codes."""
    code = (code or "").strip()
    if not code or len(code) > 32:
        return None
    with transaction.atomic():
        device = _device_for_code(user, code, for_update=True)
        if device is not None and device.verify_token(code):
            return device
    return None


def code_failed(request: HttpRequest, user: User, *, step: str) -> bool:
    """A wrong two-factor code: audited, and counted by django-axes as a failed login of this
    email from this address (five in all, passwords and codes, lock the login). True when the
    user is now locked out."""
    from axes.handlers.proxy import AxesProxyHandler

    audit(actor=user, action="auth.two_factor_failed", category=AuditCategory.AUTH,
          object_repr=f"user {user.pk}", target=("user", user.pk), step=step)
    AxesProxyHandler.user_login_failed(sender=code_failed, credentials={"username": user.email}, request=request)
    return bool(getattr(request, "axes_locked_out", False))


def is_locked_out(request: HttpRequest, user: User) -> bool:
    from axes.handlers.proxy import AxesProxyHandler

    return AxesProxyHandler.is_locked(request, {"username": user.email})


# --- the pending login ----------------------------------------------------------------------

def pending_start(request: HttpRequest, user: User, *, backend: str, next_url: str) -> None:
    request.session[PENDING_SESSION_KEY] = {"user": user.pk, "backend": backend, "next": next_url,
                                            "started": int(time.time()), "failures": 0}


def pending_get(request: HttpRequest) -> dict[str, Any] | None:
    pending = request.session.get(PENDING_SESSION_KEY)
    if not isinstance(pending, dict):
        return None
    if int(time.time()) - int(pending.get("started", 0)) > PENDING_MAX_AGE:
        request.session.pop(PENDING_SESSION_KEY, None)
        return None
    return pending


def pending_user(pending: dict[str, Any]) -> User | None:
    user_id = pending.get("user")
    if user_id is None:  # what filter(pk=None) found: nobody
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()


def pending_clear(request: HttpRequest) -> None:
    request.session.pop(PENDING_SESSION_KEY, None)


def safe_next(request: HttpRequest, target: str | None, default: str) -> str:
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default


# --- the per-role requirement -----------------------------------------------------------------

@transaction.atomic
def policy_update(*, provider: Any, roles: list[str], actor: object) -> Any:
    """Which staff roles must use two-factor authentication in `provider`."""
    from tenants.models import Provider

    if any(role not in STAFF_ROLES for role in roles):
        raise ValueError(MSG_POLICY_ROLES)
    order = [r.value for r in Role if r in STAFF_ROLES]
    wanted = sorted(set(roles), key=order.index)
    fresh = Provider.objects.select_for_update().get(pk=provider.pk)
    before = list(fresh.two_factor_roles or [])
    if before != wanted:
        fresh.two_factor_roles = wanted
        fresh.save(update_fields=["two_factor_roles"])
        audit(actor=actor, action="security.settings_changed", category=AuditCategory.SETTINGS,
              object_repr="two-factor authentication by role", before=before, after=wanted)
    provider.two_factor_roles = wanted
    return fresh


ENROL_PATH_NAME = "two_factor"
# Never held back: the enrolment pages themselves, leaving, the policy acceptance, assets,
# machine callers (API keys are not users), payment and SMS callbacks.
EXEMPT_PREFIXES = ("/dashboard/profile/two-factor/", "/accounts/", "/static/", "/media/",
                   "/payments/mpesa/", "/payments/c2b/", "/payments/stk/", "/payments/paystack/",
                   "/notifications/sms/", "/privacy/", "/terms/", "/cookies/", "/healthz")


class TwoFactorRequiredMiddleware:
    """A signed-in staff user whose role requires two-factor authentication and who has no
    authenticator yet is sent to the enrolment page (JSON 403 on the API) until enrolled.

    Free on every request of a provider that requires nothing (the rule is on the tenant row
    already loaded); otherwise the session remembers that its user is enrolled, so the device
    table is read once per session."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        if (tenant is None or tenant.schema_name == "public" or not getattr(tenant, "two_factor_roles", None)
                or request.path.startswith(EXEMPT_PREFIXES)):
            return self.get_response(request)
        user = request.user
        if (user.is_authenticated and role_requires_two_factor(tenant, user.role)
                and not request.session.get(ENROLLED_SESSION_KEY)):
            if is_enrolled(user):
                request.session[ENROLLED_SESSION_KEY] = True
            elif request.path.startswith("/api/"):
                return JsonResponse({"detail": "Set up two-factor authentication first: your role requires it."},
                                    status=403)
            else:
                return HttpResponseRedirect(reverse(ENROL_PATH_NAME))
        return self.get_response(request)
