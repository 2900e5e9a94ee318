"""Django admin for platform admins (public schema): with DEBUG off it takes a two-factor code
at login (the authenticator's six digits or a recovery code) and lets in only sessions verified
that way (django-otp's OTPAdminSite and OTPMiddleware). With DEBUG on (a developer's machine)
it is Django's plain admin, as before.

Platform admins enrol with `manage.py enrol_admin_2fa EMAIL` (README, operations): it needs
shell access to the platform, so a stolen password alone can never enrol a new device."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.sites import AdminSite
from django.http import HttpRequest
from django_otp.admin import OTPAdminSite

from accounts.two_factor import code_failed, is_locked_out, verify_code

MSG_CODE_REQUIRED = "Enter the six-digit code from your authenticator app, or a recovery code."
MSG_LOCKED = "Too many failed attempts: this login is locked for a while."
MSG_CODE_WRONG = "That code is not right (or was used already). Try the newest code from your app."


class TwoFactorAdminAuthenticationForm(AdminAuthenticationForm):
    """Email, password and a code, on one form: the code is checked after the password."""

    otp_token = forms.CharField(label="Two-factor code", required=False, max_length=32,
                                widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                                              "inputmode": "text"}))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user = self.get_user()
        code = (self.cleaned_data.get("otp_token") or "").strip()
        if not code:
            raise forms.ValidationError(MSG_CODE_REQUIRED, code="token_required")
        assert self.request is not None  # the admin's login view always gives its form the request
        if is_locked_out(self.request, user):
            raise forms.ValidationError(MSG_LOCKED, code="locked")
        device = verify_code(user, code)
        if device is None:
            code_failed(self.request, user, step="admin")
            raise forms.ValidationError(MSG_CODE_WRONG, code="invalid_token")
        # django_otp's user_logged_in receiver stores the device in the session: "verified".
        user.otp_device = device  # type: ignore[attr-defined]  # django-otp's attribute on a user
        return cleaned


class PlatformAdminSite(OTPAdminSite):
    site_header = "MajiSmart platform administration"
    site_title = "MajiSmart admin"

    def __init__(self, name: str = "admin") -> None:
        AdminSite.__init__(self, name)

    @property
    def login_form(self) -> type[AdminAuthenticationForm]:
        return AdminAuthenticationForm if settings.DEBUG else TwoFactorAdminAuthenticationForm

    @property
    def login_template(self) -> str | None:
        return None if settings.DEBUG else "admin/two_factor_login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        if settings.DEBUG:
            return AdminSite.has_permission(self, request)
        return super().has_permission(request)

