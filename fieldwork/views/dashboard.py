"""The staff pages of field work: the service request queue and page, the field officer's list
of work orders (a phone page), a work order's page (complete it, or say why not), and the list
of all work orders for the people who run the provider."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.permissions import CAPABILITIES, has_capability, require_capability
from clients.models import Client
from fieldwork.forms import CompleteForm, NotDoneForm, ServiceLevelsForm, StaffRequestForm
from fieldwork.models import FieldSettings, ServiceRequest, ServiceRequestEvent, WorkOrder
from fieldwork.selectors import request_counts, request_queue, work_order_counts, work_orders
from fieldwork.services import (
    LEVEL_FIELDS,
    field_settings_update,
    service_request_assign,
    service_request_cancel,
    service_request_create,
    service_request_progress,
    service_request_resolve,
    service_request_work_order,
    work_order_assign,
    work_order_complete,
    work_order_not_done,
)
from majismart.exports import Column, chunked, col, export_format, export_response, label
from meters.views.portal import PHOTO_TYPES

PAGE_SIZE = 25
MSG_NO_ACCOUNT = "No client with account number {value}."


def _errors_to_form(form: Any, exc: ValidationError) -> None:
    for name, msgs in exc.message_dict.items():
        form.add_error(name if name in form.fields else None, msgs)


def _staff(capability: str) -> list[User]:
    return list(User.objects.filter(is_active=True, role__in=CAPABILITIES[capability]).order_by("email"))


def _querystring(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def photo_response(field: Any) -> FileResponse:
    """Photos are personal data: served only to staff who may see the record, never from a public path."""
    kind = field.name.rsplit(".", 1)[-1].lower() if field else ""
    if kind not in PHOTO_TYPES:
        raise Http404
    response = FileResponse(field.open("rb"), content_type=PHOTO_TYPES[kind])
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- service requests --------------------------------------------------------------------------
# The lists' downloads (?export=csv|xlsx): every row the filters match.
REQUEST_COLUMNS = [
    col("Reference", "reference"), col("Account", "client.account_number"), col("Client", "client.full_name"),
    Column("Kind", lambda r: label(ServiceRequest.Kind.choices)(r.kind)),
    Column("Channel", lambda r: label(ServiceRequest.Channel.choices)(r.channel)), col("Description", "description"),
    Column("Status", lambda r: label(ServiceRequest.Status.choices)(r.status)), col("Due by", "due_by", "datetime"),
    col("Assigned to", "assigned_to.full_name"), col("Received", "created", "datetime"),
    col("Resolved", "resolved_at", "datetime"),
]
ORDER_COLUMNS = [
    col("Reference", "reference"), Column("Kind", lambda o: label(WorkOrder.Kind.choices)(o.kind)),
    col("Account", "client.account_number"), col("Client", "client.full_name"), col("Zone", "client.zone.name"),
    col("Meter", "meter.serial"), Column("Status", lambda o: label(WorkOrder.Status.choices)(o.status)),
    col("Due on", "due_on", "date"), col("Balance (KES)", "balance", "money"), col("Instructions", "instructions"),
    col("Assigned to", "assigned_to.full_name"), col("Done", "done_at", "datetime"), col("Note", "note"),
    col("Not done because", "not_done_reason"),
]


@require_capability("service_requests.view")
def request_list(request: HttpRequest) -> HttpResponseBase:
    q = request.GET
    status = q.get("status", "active")
    qs = request_queue(status=status, kind=q.get("kind", ""), assignee=q.get("assignee", ""), user=request.user)
    if fmt := export_format(request):
        return export_response(fmt, "service-requests", REQUEST_COLUMNS, chunked(qs),
                               title="Service requests")
    page = Paginator(qs, PAGE_SIZE).get_page(q.get("page"))
    return render(request, "fieldwork/request_list.html", {
        "active": "requests", "page": page, "q": q, "status": status, "querystring": _querystring(request),
        "counts": request_counts(), "statuses": ServiceRequest.Status.choices, "kinds": ServiceRequest.Kind.choices,
        "staff": _staff("dashboard.view"), "can_manage": has_capability(request.user, "service_requests.manage")})


@require_capability("service_requests.manage")
def request_new(request: HttpRequest) -> HttpResponse:
    initial = {}
    if request.method == "GET" and request.GET.get("client", "").isdigit():
        client = Client.objects.filter(pk=int(request.GET["client"])).first()
        initial = {"account": client.account_number} if client else {}
    form = StaffRequestForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        client = Client.objects.filter(account_number__iexact=data["account"].strip()).first()
        if client is None:
            form.add_error("account", MSG_NO_ACCOUNT.format(value=data["account"]))
        else:
            try:
                made = service_request_create(client=client, kind=data["kind"], description=data["description"],
                                              channel=data["channel"], photo=data["photo"], actor=request.user)
            except ValidationError as exc:
                _errors_to_form(form, exc)
            else:
                messages.success(request, f"Request {made.reference} recorded; the client was told by SMS.")
                return redirect("request_detail", pk=made.pk)
    return render(request, "fieldwork/request_new.html", {"active": "requests", "form": form},
                  status=400 if form.errors else 200)


REQUEST_ACTIONS = ("assign", "progress", "resolve", "cancel", "work_order")


@require_capability("service_requests.view", POST="service_requests.manage")
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    sr = get_object_or_404(ServiceRequest.objects.select_related("client", "client__zone", "assigned_to", "created_by")
                           .prefetch_related(Prefetch("events", ServiceRequestEvent.objects.select_related("actor")),
                                             Prefetch("work_orders", WorkOrder.objects.order_by("id"))), pk=pk)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            done = _request_action(request, sr, action)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            if done:
                messages.success(request, done)
                return redirect("request_detail", pk=sr.pk)
            errors = {"detail": ["Choose an action."]}
    return render(request, "fieldwork/request_detail.html", {
        "active": "requests", "sr": sr, "errors": errors, "post": request.POST, "now": timezone.now(),
        "open": sr.status in (ServiceRequest.Status.OPEN, ServiceRequest.Status.IN_PROGRESS),
        "visit_open": any(wo.status == WorkOrder.Status.OPEN for wo in sr.work_orders.all()),
        "staff": _staff("dashboard.view"), "can_manage": has_capability(request.user, "service_requests.manage")},
        status=400 if errors else 200)


def _request_action(request: HttpRequest, sr: ServiceRequest, action: str) -> str:
    post = request.POST
    if action == "assign":
        raw = post.get("assignee", "")
        staff = User.objects.filter(is_active=True, role__in=CAPABILITIES["dashboard.view"])
        assignee = staff.filter(pk=int(raw)).first() if raw.isdigit() else None
        if raw and assignee is None:
            raise ValidationError({"assignee": ["Choose someone on the team."]})
        service_request_assign(request=sr, assignee=assignee, actor=request.user)
        return "Assigned."
    if action == "progress":
        service_request_progress(request=sr, actor=request.user, note=post.get("note", "").strip()[:500])
        return "Marked in progress."
    if action == "resolve":
        service_request_resolve(request=sr, resolution=post.get("resolution", ""), actor=request.user)
        return "Resolved; the client was told by SMS."
    if action == "cancel":
        service_request_cancel(request=sr, reason=post.get("reason", ""), actor=request.user)
        return "Cancelled."
    if action == "work_order":
        due = parse_date(post.get("due_on", "") or "") if post.get("due_on") else None
        if post.get("due_on") and due is None:
            raise ValidationError({"due_on": ["Enter a date."]})
        order = service_request_work_order(request=sr, actor=request.user, due_on=due,
                                           instructions=post.get("instructions", "").strip()[:2000])
        return f"Work order {order.reference} made for the field staff."
    return ""


@require_capability("service_requests.view", POST="settings.manage")
def service_levels(request: HttpRequest) -> HttpResponse:
    levels = FieldSettings.load()
    form = ServiceLevelsForm(request.POST or None, initial={name: getattr(levels, name) for name in LEVEL_FIELDS})
    if request.method == "POST" and form.is_valid():
        field_settings_update(actor=request.user, **form.cleaned_data)
        messages.success(request, "Service levels saved; new requests are due by them.")
        return redirect("service_levels")
    return render(request, "fieldwork/service_levels.html", {
        "active": "requests", "form": form, "can_change": has_capability(request.user, "settings.manage")},
        status=400 if form.errors else 200)


@require_capability("service_requests.view")
def request_photo(request: HttpRequest, pk: int) -> FileResponse:
    return photo_response(get_object_or_404(ServiceRequest, pk=pk).photo)


# --- work orders -------------------------------------------------------------------------------
@require_capability("work_orders.view")
def field_list(request: HttpRequest) -> HttpResponse:
    """The field officer's phone page: their open orders and the unassigned ones, by zone then due date."""
    orders = list(work_orders(status=WorkOrder.Status.OPEN, assigned_to="mine", user=request.user))
    zones: dict[str, list[WorkOrder]] = {}
    for order in orders:
        zones.setdefault(order.client.zone.name if order.client.zone else "No zone", []).append(order)
    return render(request, "fieldwork/field_list.html", {"active": "field", "zones": zones, "count": len(orders),
                                                           "today": timezone.localdate()})


@require_capability("work_orders.view", POST="work_orders.complete")
def work_order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    order = get_object_or_404(work_orders().select_related("service_request", "reading", "completed_by"), pk=pk)
    form = CompleteForm(request.POST or None, request.FILES or None, needs_reading=order.meter_id is not None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            work_order_complete(order=order, actor=request.user, reading=data["reading"], done_at=data["done_at"],
                                note=data["note"], photo=data["photo"])
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, f"Work order {order.reference} completed.")
            return redirect("field_list")
    return _order_page(request, order, form, NotDoneForm())


def _order_page(request: HttpRequest, order: WorkOrder, form: CompleteForm, not_done: NotDoneForm) -> HttpResponse:
    return render(request, "fieldwork/work_order.html", {
        "active": "field", "order": order, "form": form, "not_done": not_done,
        "can_complete": has_capability(request.user, "work_orders.complete"),
        "can_manage": has_capability(request.user, "work_orders.manage")},
        status=400 if form.errors or not_done.errors else 200)


@require_POST
@require_capability("work_orders.complete")
def work_order_not_done_view(request: HttpRequest, pk: int) -> HttpResponse:
    order = get_object_or_404(work_orders().select_related("service_request"), pk=pk)
    form = NotDoneForm(request.POST)
    if form.is_valid():
        try:
            work_order_not_done(order=order, actor=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, f"Work order {order.reference} marked as not done.")
            return redirect("field_list")
    return _order_page(request, order, CompleteForm(needs_reading=order.meter_id is not None), form)


@require_capability("work_orders.view")
def work_order_photo(request: HttpRequest, pk: int) -> FileResponse:
    return photo_response(get_object_or_404(WorkOrder, pk=pk).photo)


@require_capability("work_orders.manage")
def work_order_list(request: HttpRequest) -> HttpResponseBase:
    q = request.GET
    status = q.get("status", WorkOrder.Status.OPEN)
    qs = work_orders(status=status, kind=q.get("kind", ""), assigned_to=q.get("assigned_to", ""), user=request.user)
    if fmt := export_format(request):
        return export_response(fmt, "work-orders", ORDER_COLUMNS, chunked(qs), title="Work orders")
    page = Paginator(qs, PAGE_SIZE).get_page(q.get("page"))
    return render(request, "fieldwork/work_order_list.html", {
        "active": "work_orders", "page": page, "q": q, "status": status, "querystring": _querystring(request),
        "counts": work_order_counts(), "statuses": WorkOrder.Status.choices, "kinds": WorkOrder.Kind.choices,
        "field_staff": _staff("work_orders.complete")})


@require_POST
@require_capability("work_orders.manage")
def work_order_assign_view(request: HttpRequest, pk: int) -> HttpResponse:
    order = get_object_or_404(WorkOrder.objects.select_related("client"), pk=pk)
    raw = request.POST.get("assigned_to", "")
    assignee = User.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    try:
        if raw and assignee is None:
            raise ValidationError({"assigned_to": ["Choose someone on the team."]})
        work_order_assign(order=order, assignee=assignee, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{order.reference} assigned to {assignee.get_full_name() if assignee else 'nobody'}.")
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/dashboard/") else "work_order_list")
