"""The pages' forms of field work; values that need the database are judged by the services
(and the readings pipeline), whose messages land on these fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy

from fieldwork.models import ServiceRequest
from fieldwork.services import MSG_READING_NEEDED
from fieldwork.validation import MAX_DESCRIPTION, MAX_NOTE
from meters.views.portal import checked_photo

STAFF_CHANNELS = [(c.value, c.label) for c in (ServiceRequest.Channel.PHONE, ServiceRequest.Channel.OFFICE,
                                                 ServiceRequest.Channel.SMS)]


class PhotoForm(forms.Form):
    photo = forms.FileField(label=gettext_lazy("Photo"), required=False,
                            help_text=gettext_lazy("Optional: JPEG, PNG or WebP, at most 5 MB."),
                            widget=forms.ClearableFileInput(attrs={"accept": "image/*", "capture": "environment"}))

    def clean_photo(self) -> Any:
        return checked_photo(self.cleaned_data.get("photo")) or None


class PortalRequestForm(PhotoForm):
    kind = forms.ChoiceField(label=gettext_lazy("What is the problem?"), choices=ServiceRequest.Kind.choices)
    description = forms.CharField(label=gettext_lazy("Tell us more"), max_length=MAX_DESCRIPTION,
                                  widget=forms.Textarea(attrs={"rows": 4}),
                                  help_text=gettext_lazy("Where it is, since when, anything that helps us find it."))

    field_order = ["kind", "description", "photo"]


class StaffRequestForm(PortalRequestForm):
    account = forms.CharField(label="Client account number", max_length=30)
    channel = forms.ChoiceField(label="Received by", choices=STAFF_CHANNELS)

    field_order = ["account", "channel", "kind", "description", "photo"]


class CompleteForm(PhotoForm):
    reading = forms.CharField(label="Meter reading (m³)", required=False,
                              widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}))
    done_at = forms.DateTimeField(label="Done at", required=False,
                                  widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
                                  input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"])
    note = forms.CharField(label="Note", required=False, max_length=MAX_NOTE, widget=forms.Textarea(attrs={"rows": 3}))

    field_order = ["reading", "done_at", "note", "photo"]

    def __init__(self, *args: Any, needs_reading: bool = False, **kwargs: Any) -> None:
        """`needs_reading`: the order has a meter, whose reading completing it records (required)."""
        super().__init__(*args, **kwargs)
        self.fields["done_at"].initial = timezone.localtime().replace(second=0, microsecond=0)
        if needs_reading:
            self.fields["reading"].required = True
            self.fields["reading"].error_messages["required"] = MSG_READING_NEEDED


class NotDoneForm(forms.Form):
    reason = forms.CharField(label="Why it could not be done", max_length=300,
                             widget=forms.TextInput(attrs={"placeholder": "e.g. gate locked, meter not found"}))


class ServiceLevelsForm(forms.Form):
    """Hours from a request to its due time, by kind (at most 30 days)."""

    leak_hours = forms.IntegerField(label="Leak", min_value=1, max_value=720)
    no_water_hours = forms.IntegerField(label="No water", min_value=1, max_value=720)
    billing_hours = forms.IntegerField(label="Billing question", min_value=1, max_value=720)
    meter_hours = forms.IntegerField(label="Meter fault", min_value=1, max_value=720)
    other_hours = forms.IntegerField(label="Other", min_value=1, max_value=720)
