from __future__ import annotations

from decimal import Decimal
from typing import cast

from django import forms

from clients.models import Client


class MeterForm(forms.Form):
    serial = forms.CharField(max_length=40)
    client = forms.ModelChoiceField(queryset=Client.objects.none(), to_field_name="account_number",
                                    widget=forms.TextInput, help_text="The client's account number.")
    installed_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    initial_reading = forms.DecimalField(max_digits=12, decimal_places=3, min_value=Decimal(0), initial=Decimal(0))
    dial_capacity = forms.DecimalField(max_digits=12, decimal_places=3, min_value=Decimal("0.001"),
                                       initial=Decimal("99999.999"), help_text="The largest value the dial shows.")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        client = cast(forms.ModelChoiceField, self.fields["client"])
        client.queryset = Client.objects.all()
        client.error_messages["invalid_choice"] = "No client with that account number."


class ReplaceForm(forms.Form):
    final_reading = forms.DecimalField(max_digits=12, decimal_places=3, min_value=Decimal(0),
                                       help_text="The old meter's last reading.")
    replaced_at = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                      input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])
    new_serial = forms.CharField(max_length=40)
    new_initial_reading = forms.DecimalField(max_digits=12, decimal_places=3, min_value=Decimal(0), initial=Decimal(0))


class ReadingsImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="Columns: meter, value, read_at (optional: reason, note).")
