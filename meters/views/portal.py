"""The client's own usage and self-reading in the portal."""

from __future__ import annotations

import uuid
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_http_methods

from accounts.permissions import require_capability
from clients.models import Client
from clients.selectors import own_client
from majismart.charts import bar_chart
from meters.alerts import leak_link_url, open_episodes
from meters.models import Meter, Reading
from meters.selectors import monthly_consumption
from meters.services import readings_record

MAX_PHOTO = 5 * 1024 * 1024
PHOTO_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def image_kind(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None
MSG_PHOTO = "The photo must be a JPEG, PNG or WebP image of at most 5 MB."


def checked_photo(photo: Any) -> Any:
    """An uploaded photo (a form's cleaned value) fit to keep, or a ValidationError. Judge the
    bytes, not the name or the browser's word: only real images are kept, and under a name of
    our choosing with the image's own extension."""
    if not photo:
        return photo
    head = photo.read(12)
    photo.seek(0)
    kind = image_kind(head)
    if photo.size > MAX_PHOTO or kind is None:
        raise forms.ValidationError(MSG_PHOTO)
    photo.name = f"{uuid.uuid4().hex}.{kind}"
    return photo


class SelfReadingForm(forms.Form):
    meter = forms.ModelChoiceField(queryset=Meter.objects.none(), empty_label=None, label=gettext_lazy("Meter"))
    value = forms.CharField(label=gettext_lazy("Reading (m³)"), widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    photo = forms.FileField(label=gettext_lazy("Photo"), required=False,
                            help_text=gettext_lazy("Optional: a photo of the meter's dial."))

    def __init__(self, *args: object, client: Client, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        cast(forms.ModelChoiceField, self.fields["meter"]).queryset = client.meters.filter(status=Meter.Status.ACTIVE)

    def clean_photo(self) -> object:
        return checked_photo(self.cleaned_data.get("photo"))


@require_capability("portal.use")
def usage(request: HttpRequest) -> HttpResponse:
    client = own_client(request.user)
    meters = list(client.meters.order_by("-status", "serial")) if client else []
    ids = [m.pk for m in meters]
    readings = Reading.objects.filter(meter_id__in=ids).select_related("meter").order_by("-read_at")[:24]
    return render(request, "portal/usage.html", {"active": "usage", "client": client, "meters": meters,
                                                 "readings": readings, "chart": bar_chart(monthly_consumption(ids))})


@require_http_methods(["GET", "POST"])
@require_capability("portal.use")
def self_reading(request: HttpRequest) -> HttpResponse:
    client = own_client(request.user)
    if client is None:
        return render(request, "portal/usage.html", {"active": "reading", "client": None})
    form = SelfReadingForm(request.POST or None, request.FILES or None, client=client)
    if request.method == "POST" and form.is_valid():
        meter = form.cleaned_data["meter"]
        result = readings_record([{"meter": meter.serial, "value": form.cleaned_data["value"],
                                   "read_at": timezone.now()}], source=Reading.Source.PORTAL, user=request.user)
        if result.errors:
            for field, msgs in result.errors[0]["errors"].items():
                form.add_error(field if field in form.fields else None, msgs)
        else:
            if form.cleaned_data.get("photo") and result.created:
                reading = Reading.objects.get(pk=result.created[0].id)
                reading.photo = form.cleaned_data["photo"]
                reading.save(update_fields=["photo"])
            messages.success(request, gettext("Thank you! Your reading will be checked by our staff before it is used."))
            return redirect("portal_usage")
    return render(request, "portal/reading.html", {"active": "reading", "client": client, "form": form},
                  status=400 if form.errors else 200)


def leak_panel(request: HttpRequest) -> tuple[str, dict] | None:
    """The portal home's word on a possible leak: the client's own open alerts, each with the
    link that reports it (the same page as the alert's SMS)."""
    client = own_client(request.user)
    if client is None:
        return None
    episodes = open_episodes(client.pk)
    if not episodes:
        return None
    return "portal/_leak_panel.html", {"alerts": [(e, leak_link_url(e)) for e in episodes]}
