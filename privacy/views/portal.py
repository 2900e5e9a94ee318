"""The client's privacy centre in the portal: a copy of their data, their consent choices, and
requests for correction, deletion, objection or restriction — each logged with its due date."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.dateformat import format as date_format
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.http import require_http_methods

from accounts.permissions import require_capability
from clients.selectors import own_client
from notifications.models import Consent
from notifications.services import consent_map
from privacy.cookies import ANALYTICS, ESSENTIAL, cookie_choice_set
from privacy.exports import ExportError, export_open
from privacy.models import DataExport, DataRequest, ErasureRecord
from privacy.services import (
    CONSENT_TOPICS,
    PURPOSES,
    PrivacyError,
    consent_choices_save,
    request_create,
)

KIND_BY_ACTION = {"export": DataRequest.Kind.EXPORT, "correction": DataRequest.Kind.CORRECTION,
                  "deletion": DataRequest.Kind.DELETION, "objection": DataRequest.Kind.OBJECTION,
                  "restriction": DataRequest.Kind.RESTRICTION}
SAVED = {
    DataRequest.Kind.EXPORT: gettext_noop("We are preparing your data. It appears below when ready."),
    DataRequest.Kind.CORRECTION: gettext_noop("Your correction request is sent. {provider} must answer by {due}."),
    DataRequest.Kind.DELETION: gettext_noop("Your deletion request is sent. {provider} must answer by {due}."),
    DataRequest.Kind.OBJECTION: gettext_noop("Your objection is recorded. Messages and analytics you objected to stop "
                                             "now; {provider} must answer the rest by {due}."),
    DataRequest.Kind.RESTRICTION: gettext_noop("Your restriction request is recorded. Messages and analytics you named "
                                               "stop now; {provider} must answer the rest by {due}."),
}


def _with_cookie_choice(response: HttpResponse, request: HttpRequest, analytics: bool) -> HttpResponse:
    cookie_choice_set(response, request, ANALYTICS if analytics else ESSENTIAL)
    return response


def _export_state(export: DataExport) -> dict[str, object]:
    return {"status": export.status, "percent": export.progress, "size": export.size,
            "expires": export.expires_at.isoformat() if export.expires_at else None}


@require_capability("portal.use")
@require_http_methods(["GET", "POST"])
def privacy_centre(request: HttpRequest) -> HttpResponse:
    client = own_client(request.user)
    errors: dict[str, str] = {}
    form_values = {"action": "", "details": "", "purposes": []}
    if request.method == "POST" and client is not None:
        action = request.POST.get("action", "")
        if action == "consent":
            choices: dict[str, bool] = {t: request.POST.get(t) == "on" for t in CONSENT_TOPICS}
            changed = consent_choices_save(client=client, actor=request.user, choices=choices)
            messages.success(request, gettext("Your choices are saved.") if changed else gettext("Nothing changed."))
            # This browser's cookie choice follows (the analytics script reads it).
            return _with_cookie_choice(redirect("privacy_centre"), request, choices[Consent.Topic.ANALYTICS])
        if action in KIND_BY_ACTION:
            kind = KIND_BY_ACTION[action]
            details = request.POST.get("details", "")
            purposes = request.POST.getlist("purposes")
            if kind == DataRequest.Kind.DELETION and request.POST.get("confirm") != "on":
                errors["confirm"] = "Tick the box to confirm you want your personal data erased."
            else:
                try:
                    req = request_create(client=client, kind=kind, actor=request.user, details=details,
                                         purposes=purposes)
                except PrivacyError as exc:
                    errors[exc.field or "general"] = str(exc)
                else:
                    provider = request.tenant  # type: ignore[attr-defined]  # django-tenants' middleware sets it
                    messages.success(request, gettext(SAVED[kind]).format(
                        provider=provider.name, due=date_format(timezone.localtime(req.due_at), "j M Y")))
                    if "analytics" in req.purposes:
                        return _with_cookie_choice(redirect("privacy_centre"), request, False)
                    return redirect("privacy_centre")
            form_values = {"action": action, "details": details, "purposes": purposes}
    context: dict[str, object] = {"active": "privacy", "client": client, "errors": errors, "form": form_values,
                                  "purposes": [(k, label) for k, (label, _) in PURPOSES.items()]}
    if client is not None:
        prefs = consent_map([client.pk])[client.pk]
        context.update(
            consents=[(t.value, t.label, prefs.get(t.value, False)) for t in CONSENT_TOPICS],
            exports=list(DataExport.objects.filter(client=client).order_by("-created")[:5]),
            requests=list(DataRequest.objects.filter(client=client).order_by("-created")[:20]),
            erased=ErasureRecord.objects.filter(client_id=client.pk).exists())
    response = render(request, "privacy/portal_centre.html", context, status=400 if errors else 200)
    add_never_cache_headers(response)
    return response


def _own_export(request: HttpRequest, **lookup: object) -> DataExport:
    client = own_client(request.user)
    if client is None:
        raise Http404
    return get_object_or_404(DataExport, client=client, scope=DataExport.Scope.CLIENT, **lookup)


@require_capability("portal.use")
def export_status(request: HttpRequest, pk: int) -> JsonResponse:
    response = JsonResponse(_export_state(_own_export(request, pk=pk)))
    add_never_cache_headers(response)
    return response


@require_capability("portal.use")
def export_download(request: HttpRequest, token: str) -> HttpResponseBase:
    export = _own_export(request, token=token)
    assert export.client is not None  # the signed-in client's own export
    try:
        handle = export_open(export=export, actor=request.user)
    except ExportError as exc:
        messages.error(request, str(exc))
        return redirect("privacy_centre")
    response = FileResponse(handle, as_attachment=True, content_type="application/zip",
                            filename=f"my-data-{export.client.account_number}-{export.created:%Y%m%d}.zip")
    add_never_cache_headers(response)
    return response
