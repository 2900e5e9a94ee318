"""Dashboard: the queue of data-subject requests with their legal due dates, one request with
the action it needs, and the provider's full export (its right as controller)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, Value, When
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from accounts.permissions import require_capability
from accounts.services import audit
from clients.models import Client
from majismart.exports import Column, chunked, col, export_format, export_response, label
from privacy.exports import ExportError, export_open, export_request
from privacy.models import DataExport, DataRequest, ErasureRecord
from privacy.services import PURPOSES, PrivacyError, request_create, request_erase, request_resolve

PAGE_SIZE = 50
# The list's download (?export=csv|xlsx): every request the filters match (not what the person
# wrote, nor the resolution: those stay on each request's page).
REQUEST_COLUMNS = [
    col("Received", "created", "datetime"), Column("Kind", lambda r: label(DataRequest.Kind.choices)(r.kind)),
    col("Account", "client.account_number"), col("Client", "client.full_name"),
    Column("Source", lambda r: label(DataRequest.Source.choices)(r.source)),
    Column("Status", lambda r: label(DataRequest.Status.choices)(r.status)), col("Due", "due_at", "datetime"),
    col("Resolved", "resolved_at", "datetime"), col("Resolved by", "resolved_by"),
]


@require_capability("privacy.requests")
def request_list(request: HttpRequest) -> HttpResponseBase:
    q = request.GET
    status = q.get("status", "open")
    rows = DataRequest.objects.select_related("client")
    if status in DataRequest.Status.values:
        rows = rows.filter(status=status)
    if q.get("kind") in DataRequest.Kind.values:
        rows = rows.filter(kind=q["kind"])
    # Open ones soonest due first (overdue on top); closed ones latest first.
    rows = rows.annotate(open_first=Case(When(status=DataRequest.Status.OPEN, then=Value(0)), default=Value(1),
                                         output_field=IntegerField())).order_by("open_first", "due_at", "-id")
    if fmt := export_format(request):
        return export_response(fmt, "privacy-requests", REQUEST_COLUMNS, chunked(rows),
                               title="Privacy requests")
    page = Paginator(rows, PAGE_SIZE).get_page(q.get("page"))
    params = q.copy()
    params.pop("page", None)
    now = timezone.now()
    open_rows = DataRequest.objects.filter(status=DataRequest.Status.OPEN)
    return render(request, "privacy/requests.html", {
        "active": "privacy", "page": page, "q": q, "status": status, "query": params.urlencode(), "now": now,
        "kinds": DataRequest.Kind.choices, "statuses": DataRequest.Status.choices,
        "open_count": open_rows.count(), "overdue_count": open_rows.filter(due_at__lte=now).count(),
        "soon": now + timedelta(days=2)})


@require_capability("privacy.requests")
@require_http_methods(["GET", "POST"])
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    req = get_object_or_404(DataRequest.objects.select_related("client"), pk=pk)
    errors: dict[str, str] = {}
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "erase":
                if request.POST.get("confirm") != req.client.account_number:
                    raise PrivacyError("Type the account number to confirm the erasure.", "confirm")
                record = request_erase(request=req, actor=request.user)
                messages.success(request, f"Personal data erased; the records kept are filed under {record.pseudonym}.")
                return redirect("privacy_request", pk=req.pk)
            if action == "resolve":
                request_resolve(request=req, actor=request.user, status=request.POST.get("status", ""),
                                resolution=request.POST.get("resolution", ""))
                messages.success(request, "The request is closed.")
                return redirect("privacy_requests")
        except PrivacyError as exc:
            errors[exc.field or "general"] = str(exc)
        except ValueError:
            errors["status"] = "Choose done or refused."
    erasure = ErasureRecord.objects.filter(client_id=req.client_id).first()
    if request.method == "GET":  # what the client wrote is personal data: who read it is logged
        audit(actor=request.user, action="privacy.request_viewed", object_repr=f"request {req.pk}",
              category="access", target=("client", req.client_id))
    response = render(request, "privacy/request_detail.html", {
        "active": "privacy", "req": req, "errors": errors, "erasure": erasure, "now": timezone.now(),
        "purpose_labels": [PURPOSES[p][0] for p in req.purposes if p in PURPOSES],
        "export": DataExport.objects.filter(request=req).first(), "post": request.POST},
        status=400 if errors else 200)
    add_never_cache_headers(response)
    return response


@require_capability("privacy.requests")
@require_POST
def request_record(request: HttpRequest) -> HttpResponse:
    """Staff record a request a client made by phone, letter or at the office."""
    account = request.POST.get("account", "").strip()
    client = Client.objects.filter(account_number__iexact=account).first()
    if client is None:
        messages.error(request, f"No client has the account number {account!r}.")
        return redirect("privacy_requests")
    try:
        req = request_create(client=client, kind=request.POST.get("kind", ""), actor=request.user,
                             details=request.POST.get("details", ""), purposes=request.POST.getlist("purposes"),
                             source=DataRequest.Source.STAFF)
    except PrivacyError as exc:
        messages.error(request, str(exc))
        return redirect("privacy_requests")
    except ValueError:
        messages.error(request, "Choose the kind of request.")
        return redirect("privacy_requests")
    messages.success(request, f"Request recorded; due {req.due_at:%d %b %Y}.")
    return redirect("privacy_request", pk=req.pk)


@require_capability("privacy.export_all")
@require_http_methods(["GET", "POST"])
def provider_export(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if DataExport.objects.filter(scope=DataExport.Scope.PROVIDER, status=DataExport.Status.PENDING).exists():
            messages.info(request, "An export is already being prepared.")
        else:
            export_request(client=None, actor=request.user)
            messages.success(request, "Preparing the export of all your data. This page shows its progress.")
        return redirect("privacy_provider_export")
    exports = DataExport.objects.filter(scope=DataExport.Scope.PROVIDER).order_by("-created")[:10]
    response = render(request, "privacy/provider_export.html", {"active": "privacy", "exports": exports,
                                                                 "now": timezone.now()})
    add_never_cache_headers(response)
    return response


@require_capability("privacy.export_all")
def provider_export_status(request: HttpRequest, pk: int) -> JsonResponse:
    export = get_object_or_404(DataExport, pk=pk, scope=DataExport.Scope.PROVIDER)
    return JsonResponse({"status": export.status, "percent": export.progress, "size": export.size})


@require_capability("privacy.export_all")
def provider_export_download(request: HttpRequest, token: str) -> HttpResponseBase:
    export = get_object_or_404(DataExport, token=token, scope=DataExport.Scope.PROVIDER)
    try:
        handle = export_open(export=export, actor=request.user)
    except ExportError as exc:
        messages.error(request, str(exc))
        return redirect("privacy_provider_export")
    schema = request.tenant.schema_name  # type: ignore[attr-defined]  # django-tenants' middleware sets it
    return FileResponse(handle, as_attachment=True, content_type="application/zip",
                        filename=f"{schema}-export-{export.created:%Y%m%d}.zip")

