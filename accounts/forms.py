from __future__ import annotations

from typing import cast

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy

from accounts.models import Role


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label=gettext_lazy("Email"), widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
    error_messages = {
        "invalid_login": gettext_lazy("That email and password do not match an account here."),
        "inactive": gettext_lazy("This account is inactive."),
    }


MSG_PASSWORD_MISMATCH = "The two passwords do not match."
ROLE_LABELS = dict(Role.choices)


def role_choices(roles: list[str]) -> list[tuple[str, str]]:
    return [(r, ROLE_LABELS[r]) for r in roles]


class StaffInviteForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("Email"), widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(label=gettext_lazy("Role"))

    def __init__(self, *args: object, roles: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        role = cast(forms.ChoiceField, self.fields["role"])
        role.choices = role_choices(roles)  # only what the viewer may give
        role.initial = Role.METER_READER  # the usual invitation; never "owner" by default


class StaffRoleForm(forms.Form):
    role = forms.ChoiceField(label=gettext_lazy("Role"))

    def __init__(self, *args: object, roles: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        cast(forms.ChoiceField, self.fields["role"]).choices = role_choices(roles)


class InviteAcceptForm(forms.Form):
    full_name = forms.CharField(label=gettext_lazy("Your full name"), max_length=150,
                                widget=forms.TextInput(attrs={"autocomplete": "name", "autofocus": True}))
    password1 = forms.CharField(label=gettext_lazy("Choose a password"), strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                                help_text=gettext_lazy("At least 10 characters, not too common, not only digits."))
    password2 = forms.CharField(label=gettext_lazy("Type the password again"), strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("password1") and data.get("password2") and data["password1"] != data["password2"]:
            self.add_error("password2", MSG_PASSWORD_MISMATCH)
        return data


class ProfileNameForm(forms.Form):
    full_name = forms.CharField(label=gettext_lazy("Full name"), max_length=150,
                                widget=forms.TextInput(attrs={"autocomplete": "name"}))
