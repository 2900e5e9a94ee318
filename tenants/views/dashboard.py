"""The provider dashboard: home and settings (provider details, M-Pesa callbacks, API keys)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from accounts.models import APIKey, Role, User
from accounts.permissions import has_capability, require_capability
from accounts.services import api_key_create, api_key_revoke
from tenants.forms import APIKeyForm
from tenants.selectors import callback_urls


@require_capability("dashboard.view")
def home(request: HttpRequest) -> HttpResponse:
    from clients.models import Client
    from meters.models import Meter, Reading

    context = {
        "active": "home",
        "staff_count": User.objects.exclude(role=Role.CLIENT).filter(is_active=True).count(),
        "api_key_count": APIKey.objects.active().count(),
        "client_count": Client.objects.filter(status=Client.Status.ACTIVE).count(),
        "meter_count": Meter.objects.filter(status=Meter.Status.ACTIVE).count(),
        "review_count": Reading.objects.filter(status=Reading.Status.FLAGGED).count(),
    }
    return render(request, "dashboard/home.html", context)


def _settings_context(request: HttpRequest) -> dict[str, object]:
    can_manage_keys = has_capability(request.user, "api_keys.manage")
    return {
        "active": "settings",
        "can_manage_keys": can_manage_keys,
        "can_see_secrets": has_capability(request.user, "settings.manage"),
        "callback_urls": callback_urls(request.tenant),
        "api_keys": APIKey.objects.select_related("created_by") if can_manage_keys else [],
        "key_form": APIKeyForm(),
    }


@require_capability("settings.view")
def settings_page(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/settings.html", _settings_context(request))


@require_POST
@require_capability("api_keys.manage")
def api_key_new(request: HttpRequest) -> HttpResponse:
    form = APIKeyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the key a name and a role.")
        return redirect("settings")
    key, raw = api_key_create(name=form.cleaned_data["name"], role=form.cleaned_data["role"], created_by=request.user)
    # Shown once, in this response only (not cached, not kept in the session or anywhere else).
    response = render(request, "dashboard/settings.html",
                      {**_settings_context(request), "new_key": {"name": key.name, "raw": raw}}, status=201)
    add_never_cache_headers(response)
    return response


@require_POST
@require_capability("api_keys.manage")
def api_key_revoke_view(request: HttpRequest, prefix: str) -> HttpResponse:
    key = get_object_or_404(APIKey, prefix=prefix)
    api_key_revoke(api_key=key, actor=request.user)
    messages.success(request, f"API key “{key.name}” revoked.")
    return redirect("settings")
