"""Two-factor authentication pages: the login's second step, a staff user's own enrolment
(/dashboard/profile/two-factor/...) and the owner's per-role requirement (Settings → Security).
The rules and the reasoning are in accounts/two_factor.py."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.db.models import Count, Exists, OuterRef
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import two_factor as tf
from accounts.forms_two_factor import (
    CodeForm,
    DisableForm,
    PasswordConfirmForm,
    SecurityPolicyForm,
    SetupForm,
)
from accounts.models import STAFF_ROLES, AuthenticatorDevice, RecoveryCodeDevice, Role, User
from accounts.permissions import public, require_capability
from accounts.ratelimit import limit_posts

MSG_CODE_WRONG = "That code is not right, or it was used already. Use the newest code your app shows."
MSG_WAIT = "Several wrong codes in a row: wait a few seconds, then type the newest code."
MSG_TOO_MANY = "Too many wrong codes. Log in again."
MSG_PENDING_GONE = "Please log in again."
MSG_ROLE_REQUIRES = ("Your role requires two-factor authentication here, so it cannot be turned off. "
                     "The owner decides this in Settings → Security.")


# --- the login's second step ---------------------------------------------------------------

@public
@never_cache
@require_http_methods(["GET", "POST"])
@limit_posts("login_code")
def login_code(request: HttpRequest) -> HttpResponse:
    pending = tf.pending_get(request)
    user = tf.pending_user(pending) if pending else None
    if pending is None or user is None:
        tf.pending_clear(request)
        messages.info(request, MSG_PENDING_GONE)
        return redirect("login")
    if tf.is_locked_out(request, user):
        tf.pending_clear(request)
        return render(request, "accounts/locked_out.html", status=429)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        throttled = tf.is_throttled(user, form.cleaned_data["code"])
        device = tf.verify_code(user, form.cleaned_data["code"])
        if device is not None:
            tf.pending_clear(request)
            login(request, user, backend=pending["backend"])
            request.session[tf.ENROLLED_SESSION_KEY] = True
            if isinstance(device, RecoveryCodeDevice):
                left = tf.recovery_codes_left(user)
                messages.warning(request, f"You used a recovery code; {left} left. If your phone is lost, set up "
                                          "two-factor authentication again on your profile.")
            return redirect(tf.safe_next(request, pending.get("next"), reverse("home")))
        pending["failures"] = int(pending.get("failures", 0)) + 1
        request.session[tf.PENDING_SESSION_KEY] = pending
        locked = tf.code_failed(request, user, step="login")
        if locked or pending["failures"] >= tf.MAX_CODE_FAILURES:
            tf.pending_clear(request)
            if locked:  # django-axes answers with its lockout page (AxesMiddleware)
                return render(request, "accounts/locked_out.html", status=429)
            messages.error(request, MSG_TOO_MANY)
            return redirect("login")
        form.add_error("code", MSG_WAIT if throttled else MSG_CODE_WRONG)
    return render(request, "accounts/two_factor_login.html", {"form": form},
                  status=400 if form.errors else 200)


# --- a staff user's own two-factor authentication --------------------------------------------

def _status_context(request: HttpRequest) -> dict[str, object]:
    user = request.user
    device = tf.authenticator_for(user)  # type: ignore[arg-type]
    return {
        "active": "profile",
        "device": device,
        "codes_left": tf.recovery_codes_left(user) if device else 0,  # type: ignore[arg-type]
        "role_requires": tf.role_requires_two_factor(request.tenant, user.role),  # type: ignore[attr-defined, union-attr]
        "regenerate_form": PasswordConfirmForm(user=user),
        "disable_form": DisableForm(user=user),
    }


@never_cache
@require_capability("dashboard.view")
def two_factor_status(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/two_factor.html", _status_context(request))


def _codes_response(request: HttpRequest, codes: list[str], *, first_time: bool) -> HttpResponse:
    # Shown once, in this response only (never cached, kept nowhere in clear).
    response = render(request, "accounts/two_factor_codes.html",
                      {"active": "profile", "codes": codes, "first_time": first_time,
                       "codes_text": "\n".join(codes)})
    add_never_cache_headers(response)
    return response


@never_cache
@require_http_methods(["GET", "POST"])
@require_capability("dashboard.view")
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if tf.is_enrolled(user):
        return redirect("two_factor")
    restart = request.method == "POST" and "restart" in request.POST
    form = SetupForm(request.POST if request.method == "POST" and not restart else None)
    if form.is_bound and form.is_valid():
        throttled = not tf.enrolment_device(user).verify_is_allowed()[0]
        codes = tf.enrolment_confirm(user=user, code=form.cleaned_data["code"])
        if codes is not None:
            request.session[tf.ENROLLED_SESSION_KEY] = True
            messages.success(request, "Two-factor authentication is on. You will be asked for a code at each login.")
            return _codes_response(request, codes, first_time=True)
        form.add_error("code", MSG_WAIT if throttled else MSG_CODE_WRONG)
    device = tf.enrolment_device(user, restart=restart)
    if restart:
        return redirect("two_factor_setup")
    issuer = getattr(request.tenant, "name", "") or "MajiSmart"  # type: ignore[attr-defined]
    uri = tf.otpauth_uri(device, issuer)
    return render(request, "accounts/two_factor_setup.html", {
        "active": "profile", "form": form, "secret": tf.secret_text(device), "qr_svg": tf.qr_svg(uri),
        "issuer": issuer, "role_requires": tf.role_requires_two_factor(request.tenant, user.role),  # type: ignore[attr-defined]
    }, status=400 if form.errors else 200)


@never_cache
@require_POST
@require_capability("dashboard.view")
def two_factor_recovery_codes(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if not tf.is_enrolled(user):
        return redirect("two_factor")
    form = PasswordConfirmForm(request.POST, user=user)
    if not form.is_valid():
        context = {**_status_context(request), "regenerate_form": form}
        return render(request, "accounts/two_factor.html", context, status=400)
    codes = tf.recovery_codes_regenerate(user=user)
    messages.success(request, "New recovery codes made; the old ones no longer work.")
    return _codes_response(request, codes, first_time=False)


@never_cache
@require_POST
@require_capability("dashboard.view")
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if not tf.is_enrolled(user):
        return redirect("two_factor")
    if tf.role_requires_two_factor(request.tenant, user.role):  # type: ignore[attr-defined]
        messages.error(request, MSG_ROLE_REQUIRES)
        return redirect("two_factor")
    form = DisableForm(request.POST, user=user)
    if form.is_valid():
        throttled = tf.is_throttled(user, form.cleaned_data["code"])
        if tf.verify_code(user, form.cleaned_data["code"]) is not None:
            tf.two_factor_disable(user=user, actor=user)
            request.session.pop(tf.ENROLLED_SESSION_KEY, None)
            messages.success(request, "Two-factor authentication is off.")
            return redirect("two_factor")
        form.add_error("code", MSG_WAIT if throttled else MSG_CODE_WRONG)
        if tf.code_failed(request, user, step="disable"):
            return render(request, "accounts/locked_out.html", status=429)
    return render(request, "accounts/two_factor.html", {**_status_context(request), "disable_form": form}, status=400)


# --- the owner's rule: who must use it ----------------------------------------------------------

@require_http_methods(["GET", "POST"])
@require_capability("settings.manage")
def security_settings(request: HttpRequest) -> HttpResponse:
    provider = request.tenant  # type: ignore[attr-defined]
    form = SecurityPolicyForm(request.POST or None, initial={"two_factor_roles": list(provider.two_factor_roles or [])})
    if request.method == "POST" and form.is_valid():
        tf.policy_update(provider=provider, roles=form.cleaned_data["two_factor_roles"], actor=request.user)
        messages.success(request, "Security settings saved.")
        return redirect("security_settings")
    enrolled = Exists(AuthenticatorDevice.objects.filter(user=OuterRef("pk"), confirmed=True))
    counts = {row["role"]: row for row in User.objects.filter(role__in=STAFF_ROLES, is_active=True)
              .values("role").annotate(staff=Count("pk"), enrolled=Count("pk", filter=enrolled))}
    roles = [{"value": r.value, "label": r.label, "required": r.value in (provider.two_factor_roles or []),
              "staff": counts.get(r.value, {}).get("staff", 0), "enrolled": counts.get(r.value, {}).get("enrolled", 0)}
             for r in Role if r in STAFF_ROLES]
    return render(request, "accounts/security_settings.html",
                  {"active": "settings", "form": form, "roles": roles, "self_enrolled": tf.is_enrolled(request.user)},  # type: ignore[arg-type]
                  status=400 if form.errors else 200)
