from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings

from clients.models import Category, Client, ClientSettings, Zone
from clients.validation import References, clean_client


class ClientForm(forms.Form):
    full_name = forms.CharField(max_length=200, label="Full name")
    account_number = forms.CharField(max_length=30, required=False, help_text="Leave empty to generate one.")
    phone = forms.CharField(max_length=30, required=False, widget=forms.TextInput(attrs={"type": "tel"}))
    email = forms.CharField(max_length=254, required=False, widget=forms.EmailInput)
    national_id = forms.CharField(max_length=20, required=False, label="National ID")
    category = forms.ChoiceField()
    zone = forms.ChoiceField(required=False, label="Zone / route")
    location = forms.CharField(max_length=200, required=False, label="Location / plot")
    status = forms.ChoiceField(choices=Client.Status.choices)
    opening_balance = forms.CharField(required=False, initial="0.00", label="Opening balance (KES)",
                                      help_text="Arrears carried over from a previous system (negative for credit).")
    disconnection_exempt = forms.BooleanField(
        required=False, label="Exempt from disconnection",
        help_text="A hospital, school or other client whose supply may not be cut for arrears: it is never put "
                  "up for disconnection.")
    language = forms.ChoiceField(required=False, choices=[("", "Provider's default"), *settings.LANGUAGES],
                                 help_text="Bills, messages and the portal are in this language.")

    def __init__(self, *args: object, editing: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        cast(forms.ChoiceField, self.fields["category"]).choices = [(c.code, c.name) for c in Category.objects.all()]
        cast(forms.ChoiceField, self.fields["zone"]).choices = [("", "—")] + [(z.code, z.name) for z in Zone.objects.all()]
        if editing:
            # The opening balance belongs to the migration from a previous system; later changes
            # to what a client owes are ledger entries, not edits.
            del self.fields["opening_balance"]
        self.cleaned: dict[str, Any] = {}

    def clean(self) -> dict[str, Any] | None:
        data = super().clean()
        cleaned, errors = clean_client({k: v for k, v in self.data.items()
                                        if k in self.fields and k not in ("disconnection_exempt", "language")},
                                       References.load(),
                                       partial=False)
        for name, messages in errors.items():
            if name in self.fields:
                for message in messages:
                    self.add_error(name, message)
        self.cleaned = {k: v for k, v in cleaned.items() if k in self.fields}
        self.cleaned["disconnection_exempt"] = bool((data or {}).get("disconnection_exempt"))
        self.cleaned["language"] = (data or {}).get("language") or ""
        return data

    @classmethod
    def initial_for(cls, client: Client) -> dict[str, object]:
        return {"full_name": client.full_name, "account_number": client.account_number, "phone": client.phone,
                "email": client.email, "national_id": client.national_id, "category": client.category.code,
                "zone": client.zone.code if client.zone else "", "location": client.location, "status": client.status,
                "disconnection_exempt": client.disconnection_exempt, "language": client.language}


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="Save your spreadsheet as CSV (UTF-8).")


class CategoryForm(forms.ModelForm):
    class Meta:
        model = Category
        fields = ["code", "name"]


class ZoneForm(forms.ModelForm):
    class Meta:
        model = Zone
        fields = ["code", "name"]


class AccountNumberForm(forms.ModelForm):
    class Meta:
        model = ClientSettings
        fields = ["account_prefix", "account_digits", "next_account_number"]
        labels = {"account_prefix": "Account number prefix", "account_digits": "Digits",
                  "next_account_number": "Next number"}

    def clean_account_prefix(self) -> str:
        prefix = self.cleaned_data["account_prefix"].strip().upper()
        if prefix and not prefix.replace("-", "").isalnum():
            raise forms.ValidationError("Use letters, digits and hyphens only.")
        return prefix

    def clean_account_digits(self) -> int:
        digits = self.cleaned_data["account_digits"]
        if not 3 <= digits <= 10:
            raise forms.ValidationError("Between 3 and 10 digits.")
        return digits
