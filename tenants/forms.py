from __future__ import annotations

import re
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy

from accounts.models import APIKey
from majismart.phones import normalize_phone
from tenants.models import KRA_PIN_RE, MSG_BRAND_COLOR, MSG_KRA_PIN, Provider
from tenants.services import logo_check, validate_business_name, validate_subdomain

MSG_ADULT = "You must be 18 or older to open a provider account."
MSG_ACCEPT = "Please accept the privacy policy and terms to continue."
MSG_PASSWORD_MISMATCH = "The two passwords do not match."


class AdultWithPasswordMixin:
    """What a person opening an account confirms: that they are 18 or older, that they accept the
    terms and privacy policy, and a password typed twice (provider sign-up, portal registration)."""

    cleaned_data: dict[str, Any]
    msg_adult, msg_accept, msg_mismatch = MSG_ADULT, MSG_ACCEPT, MSG_PASSWORD_MISMATCH

    def clean_adult(self) -> bool:
        if not self.cleaned_data.get("adult"):
            raise ValidationError(self.msg_adult, code="adult")
        return True

    def accepted(self, field: str) -> bool:
        if not self.cleaned_data.get(field):
            raise ValidationError(self.msg_accept, code="accept")
        return True

    def check_passwords(self, data: dict[str, object], *, email: str, name: str = "") -> None:
        from accounts.models import User

        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", self.msg_mismatch)  # type: ignore[attr-defined]
        elif p1:
            try:
                password_validation.validate_password(str(p1), User(email=email, full_name=name))
            except ValidationError as exc:
                self.add_error("password1", exc)  # type: ignore[attr-defined]


class SignupForm(AdultWithPasswordMixin, forms.Form):
    business_name = forms.CharField(max_length=200, label=gettext_lazy("Business name"))
    subdomain = forms.CharField(
        max_length=40,
        help_text=gettext_lazy("Your dashboard's address: <subdomain>.majismart. Lowercase letters, digits, hyphens."),
    )
    owner_name = forms.CharField(max_length=150, label=gettext_lazy("Your full name"))
    owner_email = forms.EmailField(label=gettext_lazy("Your email"))
    owner_phone = forms.CharField(max_length=20, label=gettext_lazy("Your phone"), required=False)
    password1 = forms.CharField(label=gettext_lazy("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label=gettext_lazy("Confirm password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    adult = forms.BooleanField(label=gettext_lazy("I confirm I am 18 years of age or older"), required=False)
    accept_terms = forms.BooleanField(required=False, label=gettext_lazy("I accept the privacy policy and terms of service"))

    def clean_business_name(self) -> str:
        name = self.cleaned_data["business_name"].strip()
        validate_business_name(name)
        return name

    def clean_subdomain(self) -> str:
        slug = self.cleaned_data["subdomain"].strip()
        if slug != slug.lower():
            raise ValidationError("Use lowercase letters only.", code="format")
        validate_subdomain(slug)
        return slug

    def clean_owner_email(self) -> str:
        return self.cleaned_data["owner_email"].strip().lower()

    def clean_owner_phone(self) -> str:
        return normalize_phone(self.cleaned_data.get("owner_phone", ""))

    def clean_accept_terms(self) -> bool:
        return self.accepted("accept_terms")

    def clean(self) -> dict[str, Any]:
        data = cast(dict[str, Any], super().clean())  # Form.clean() returns cleaned_data
        self.check_passwords(data, email=str(data.get("owner_email", "")), name=str(data.get("owner_name", "")))
        return data


class FindProviderForm(forms.Form):
    subdomain = forms.CharField(max_length=40, label=gettext_lazy("Your provider's subdomain"))


class APIKeyForm(forms.ModelForm):
    class Meta:
        model = APIKey
        fields = ["name", "role"]


class BrandingForm(forms.Form):
    """Provider details & branding: what bills, receipts and statements print."""

    address = forms.CharField(required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 3}),
                              help_text=gettext_lazy("Postal and physical address, e.g. P.O. Box 123-80100, Moi Avenue, Mombasa."))
    kra_pin = forms.CharField(label=gettext_lazy("KRA PIN"), required=False, max_length=20, help_text=gettext_lazy("e.g. P051234567X"))
    contact_email = forms.EmailField(label=gettext_lazy("Contact email"), required=False)
    contact_phone = forms.CharField(label=gettext_lazy("Contact phone"), required=False, max_length=20)
    website = forms.URLField(required=False, assume_scheme="https")
    brand_color = forms.CharField(label=gettext_lazy("Brand colour"), max_length=7,
                                  widget=forms.TextInput(attrs={"type": "color"}))
    logo = forms.FileField(required=False, help_text=gettext_lazy("PNG or JPEG, at most 1 MB."))
    language = forms.ChoiceField(label=gettext_lazy("Default language"), choices=settings.LANGUAGES, required=False,
                                 help_text="For clients and staff who have not chosen one: the portal, SMS, "
                                           "emails and bills.")
    remove_logo = forms.BooleanField(label=gettext_lazy("Remove the logo"), required=False)

    @classmethod
    def for_provider(cls, provider: Provider) -> BrandingForm:
        return cls(initial={name: getattr(provider, name) for name in (
            "address", "kra_pin", "contact_email", "contact_phone", "website", "brand_color", "language")})

    def clean_kra_pin(self) -> str:
        pin = "".join(self.cleaned_data["kra_pin"].split()).upper()
        if pin and not re.match(KRA_PIN_RE, pin):
            raise ValidationError(MSG_KRA_PIN, code="format")
        return pin

    def clean_brand_color(self) -> str:
        color = self.cleaned_data["brand_color"].strip().lower()
        if not re.match(r"^#[0-9a-f]{6}$", color):
            raise ValidationError(MSG_BRAND_COLOR, code="format")
        return color

    def clean_contact_phone(self) -> str:
        return normalize_phone(self.cleaned_data.get("contact_phone", ""))

    def clean_logo(self) -> object:
        logo = self.cleaned_data.get("logo")
        return logo_check(logo) if logo else None
