from __future__ import annotations

from decimal import Decimal
from typing import cast

from django import forms

from clients.models import Client, Zone
from meters.models import Meter
from meters.services import MSG_CLIENT_REQUIRED, MSG_ZONE_REQUIRED


class MeterForm(forms.Form):
    serial = forms.CharField(max_length=40)
    kind = forms.ChoiceField(choices=Meter.Kind.choices, initial=Meter.Kind.CLIENT, label="Kind of meter",
                             help_text="A bulk meter measures what goes into a zone (non-revenue water); it is never billed.")
    # Each required for its kind only (clean); the page shows the one the kind takes.
    client = forms.ModelChoiceField(queryset=Client.objects.none(), to_field_name="account_number",
                                    error_messages={"required": MSG_CLIENT_REQUIRED},
                                    widget=forms.TextInput, help_text="The client's account number.")
    zone = forms.ModelChoiceField(queryset=Zone.objects.none(), to_field_name="code",
                                  error_messages={"required": MSG_ZONE_REQUIRED},
                                  empty_label="Choose the zone", help_text="The zone this bulk meter feeds.")
    installed_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    initial_reading = forms.DecimalField(max_digits=12, decimal_places=3, min_value=Decimal(0), initial=Decimal(0))
    dial_capacity = forms.DecimalField(max_digits=12, decimal_places=3, min_value=Decimal("0.001"),
                                       initial=Decimal("99999.999"), help_text="The largest value the dial shows.")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        client = cast(forms.ModelChoiceField, self.fields["client"])
        client.queryset = Client.objects.all()
        client.error_messages["invalid_choice"] = "No client with that account number."
        cast(forms.ModelChoiceField, self.fields["zone"]).queryset = Zone.objects.all()

    def clean(self) -> dict:
        """Only the owner the kind takes: a client typed before switching to "bulk" (the page
        hides the field) is not held against the meter, nor a zone left unchosen for a client meter."""
        data = super().clean() or {}
        if data.get("kind") == Meter.Kind.BULK:
            data["client"] = None
            self.errors.pop("client", None)
        else:
            data["zone"] = None
            self.errors.pop("zone", None)
        return data


class ReplaceForm(forms.Form):
    final_reading = forms.DecimalField(max_digits=12, decimal_places=3, min_value=Decimal(0),
                                       help_text="The old meter's last reading.")
    replaced_at = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                      input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])
    new_serial = forms.CharField(max_length=40)
    new_initial_reading = forms.DecimalField(max_digits=12, decimal_places=3, min_value=Decimal(0), initial=Decimal(0))


class ReadingsImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="Columns: meter, value, read_at (optional: reason, note).")


class LeakSettingsForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Send leak alerts")
    factor = forms.DecimalField(max_digits=5, decimal_places=2, label="Spike: times the usual use",
                                help_text="A period's use over this many times the meter's usual (its last three "
                                          "periods) is a spike.")
    min_m3 = forms.DecimalField(max_digits=12, decimal_places=3, label="Spike: at least (m³)",
                                help_text="…and at least this much water in the period, so small use never alerts.")
    continuous_days = forms.IntegerField(min_value=0, max_value=14, label="Continuous use: days running",
                                         help_text="For meters read daily: this many daily readings in a row each "
                                                   "over the floor below (0: off).")
    continuous_floor_m3 = forms.DecimalField(max_digits=12, decimal_places=3, label="Continuous use: floor per day (m³)")
