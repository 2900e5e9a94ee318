from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError

from accounts.models import APIKey
from majismart.phones import normalize_phone
from tenants.services import validate_business_name, validate_subdomain

MSG_ADULT = "You must be 18 or older to open a provider account."
MSG_ACCEPT = "Please accept the privacy policy and terms to continue."
MSG_PASSWORD_MISMATCH = "The two passwords do not match."


class SignupForm(forms.Form):
    business_name = forms.CharField(max_length=200, label="Business name")
    subdomain = forms.CharField(
        max_length=40,
        help_text="Your dashboard's address: <subdomain>.majismart. Lowercase letters, digits, hyphens.",
    )
    owner_name = forms.CharField(max_length=150, label="Your full name")
    owner_email = forms.EmailField(label="Your email")
    owner_phone = forms.CharField(max_length=20, label="Your phone", required=False)
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label="Confirm password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    adult = forms.BooleanField(label="I confirm I am 18 years of age or older", required=False)
    accept_terms = forms.BooleanField(required=False, label="I accept the privacy policy and terms of service")

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

    def clean_adult(self) -> bool:
        if not self.cleaned_data.get("adult"):
            raise ValidationError(MSG_ADULT, code="adult")
        return True

    def clean_accept_terms(self) -> bool:
        if not self.cleaned_data.get("accept_terms"):
            raise ValidationError(MSG_ACCEPT, code="accept")
        return True

    def clean(self) -> dict[str, object]:
        data = super().clean()
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", MSG_PASSWORD_MISMATCH)
        elif p1:
            from accounts.models import User

            probe = User(email=data.get("owner_email", ""), full_name=data.get("owner_name", ""))
            try:
                password_validation.validate_password(p1, probe)
            except ValidationError as exc:
                self.add_error("password1", exc)
        return data


class FindProviderForm(forms.Form):
    subdomain = forms.CharField(max_length=40, label="Your provider's subdomain")


class APIKeyForm(forms.ModelForm):
    class Meta:
        model = APIKey
        fields = ["name", "role"]
