"""The provider dashboard's settings (provider details and branding, M-Pesa callbacks, API keys);
the provider's logo for its own staff and clients. (The home page: web.views.home.)"""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import APIKey, User
from accounts.permissions import has_capability, require_capability
from accounts.services import api_key_create, api_key_revoke
from tenants.forms import APIKeyForm, BrandingForm
from tenants.models import Provider
from tenants.selectors import callback_urls, logo_file
from tenants.services import provider_branding_update


def _settings_context(request: HttpRequest) -> dict[str, object]:
    can_manage_keys = has_capability(request.user, "api_keys.manage")
    return {
        "active": "settings",
        "can_manage_keys": can_manage_keys,
        "can_see_secrets": has_capability(request.user, "settings.manage"),
        "callback_urls": callback_urls(request.tenant),  # type: ignore[attr-defined]  # django-tenants' middleware sets it
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
    key, raw = api_key_create(name=form.cleaned_data["name"], role=form.cleaned_data["role"], created_by=cast(User, request.user))  # signed in: require_capability
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


@require_http_methods(["GET", "POST"])
@require_capability("settings.manage")
def branding(request: HttpRequest) -> HttpResponse:
    provider = Provider.objects.get(pk=request.tenant.pk)  # type: ignore[attr-defined]  # fresh, not the cached tenant
    form = BrandingForm(request.POST, request.FILES) if request.method == "POST" else BrandingForm.for_provider(provider)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            provider_branding_update(provider=provider, actor=request.user, logo=data.pop("logo"),
                                     remove_logo=data.pop("remove_logo"), **data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Provider details saved; new bills, receipts and statements carry them.")
            return redirect("branding")
    return render(request, "tenants/branding.html", {"active": "settings", "form": form, "branded": provider},
                  status=400 if form.errors else 200)


def provider_logo(request: HttpRequest) -> FileResponse:
    """The logo, for the provider's own logins (staff and clients): every user lives in this
    provider's schema, so a session from another provider's domain is never authenticated here."""
    if not request.user.is_authenticated:
        raise Http404
    found = logo_file(request.tenant)  # type: ignore[attr-defined]
    if found is None:
        raise Http404
    name, content_type = found
    response = FileResponse(request.tenant.logo.storage.open(name, "rb"), content_type=content_type)  # type: ignore[attr-defined]
    response["Cache-Control"] = "private, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response
