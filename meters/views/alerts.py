"""Dashboard → Readings → Leak alerts: the open alerts (each to its client), the provider's
rules, and closing an alert from the client page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import has_capability, require_capability
from meters.alerts import SETTING_FIELDS, leak_episode_close, leak_settings_update
from meters.forms import LeakSettingsForm
from meters.models import LeakAlertSettings, LeakEpisode


@require_capability("clients.view", POST="leak_alerts.manage")
def leak_alerts(request: HttpRequest) -> HttpResponse:
    cfg = LeakAlertSettings.load()
    form = LeakSettingsForm(request.POST or None, initial={name: getattr(cfg, name) for name in SETTING_FIELDS})
    if request.method == "POST" and form.is_valid():
        try:
            leak_settings_update(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(name if name in form.fields else None, error)
        else:
            messages.success(request, "Leak alert rules saved; readings from now on are judged by them.")
            return redirect("leak_alerts")
    episodes = (LeakEpisode.objects.filter(state=LeakEpisode.State.OPEN)
                .select_related("meter__client").order_by("-started", "-id"))
    return render(request, "meters/leak_alerts.html", {
        "active": "readings", "page": Paginator(episodes, 50).get_page(request.GET.get("page")), "querystring": "",
        "form": form, "cfg": cfg, "can_change": has_capability(request.user, "leak_alerts.manage")},
        status=400 if form.errors else 200)


@require_POST
@require_capability("leak_alerts.manage")
def leak_alert_close(request: HttpRequest, pk: int) -> HttpResponse:
    episode = get_object_or_404(LeakEpisode.objects.select_related("meter"), pk=pk)
    try:
        leak_episode_close(episode=episode, actor=request.user, note=request.POST.get("note", ""))
        messages.success(request, f"Leak alert on meter {episode.meter.serial} closed.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    if episode.meter.client_id:
        return redirect("client_detail", pk=episode.meter.client_id)
    return redirect("leak_alerts")
