"""Forms of the two-factor pages (accounts/views/two_factor.py)."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import STAFF_ROLES, Role

MSG_PASSWORD_WRONG = "That is not your password."
_CODE_ATTRS = {"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false",
               "autofocus": True}


class CodeForm(forms.Form):
    """The login's second step: a code from the app or a recovery code."""

    code = forms.CharField(label="Code", max_length=32, widget=forms.TextInput(attrs=_CODE_ATTRS))


class SetupForm(forms.Form):
    code = forms.CharField(label="Six-digit code from the app", max_length=12,
                           widget=forms.TextInput(attrs={**_CODE_ATTRS, "inputmode": "numeric"}))


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(label="Your password", strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(MSG_PASSWORD_WRONG, code="password_wrong")
        return password


class DisableForm(PasswordConfirmForm):
    code = forms.CharField(label="Code from the app, or a recovery code", max_length=32,
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "off"}))


STAFF_ROLE_CHOICES = [(r.value, r.label) for r in Role if r in STAFF_ROLES]


class SecurityPolicyForm(forms.Form):
    two_factor_roles = forms.MultipleChoiceField(
        label="Require two-factor authentication for", choices=STAFF_ROLE_CHOICES, required=False,
        widget=forms.CheckboxSelectMultiple)
