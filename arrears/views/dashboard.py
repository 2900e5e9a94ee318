"""The arrears pages of the dashboard: disconnection candidates, disconnections, payment plans,
the rule's settings, bad-debt write-offs."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.permissions import has_capability, require_capability
from arrears.models import ArrearsSettings, PaymentPlan
from arrears.selectors import candidates, disconnections_list, plans_list
from arrears.services import (
    clean_plan,
    clean_settings,
    disconnection_start,
    plan_approve,
    plan_create,
    plan_decline,
    settings_update,
    write_off,
)
from billing.models import BillingSettings, LedgerEntry
from billing.selectors import balance_of_client, client_balance
from clients.models import Client
from majismart.exports import Column, chunked, col, export_format, export_response

PAGE_SIZE = 50


def _columns(today: object = None) -> dict[str, list[Column]]:
    """The lists' downloads (?export=csv|xlsx): every row the page's filter matches."""
    from arrears.models import Disconnection

    status_of = dict(Disconnection.Status.choices)
    plan_status = dict(PaymentPlan.Status.choices)
    return {
        "candidates": [
            col("Account", "account_number"), col("Client", "full_name"), col("Balance (KES)", "balance", "money"),
            col("Unpaid since", "oldest_due", "date"),
            Column("Days overdue", lambda c: (today - c.oldest_due).days, "int"),
            col("Last payment", "last_payment", "datetime")],
        "disconnections": [
            col("Account", "client.account_number"), col("Client", "client.full_name"),
            Column("Status", lambda d: status_of.get(d.status, d.status)), col("Notice date", "notice_date", "date"),
            col("Balance when started (KES)", "balance", "money"), col("Reconnection fee (KES)", "fee", "money"),
            col("Disconnection order", "disconnect_order.reference"), col("Reconnection order", "reconnect_order.reference"),
            col("Started", "created", "datetime"), col("Disconnected", "disconnected_at", "datetime"),
            col("Reconnected", "reconnected_at", "datetime")],
        "plans": [
            col("Plan", "pk", "int"), col("Account", "client.account_number"), col("Client", "client.full_name"),
            Column("Status", lambda p: plan_status.get(p.status, p.status)), col("Total (KES)", "total", "money"),
            col("Down payment (KES)", "down_payment", "money"), col("Paid (KES)", "paid", "money"),
            col("Instalments", "instalment_count", "int"), col("First due", "first_due", "date"),
            col("Made", "created", "datetime")],
        "write-offs": [
            col("Account", "account_number"), col("Client", "full_name"), col("Balance (KES)", "balance", "money")],
    }


def _download(fmt: str, name: str, rows: object, today: object = None) -> HttpResponseBase:
    return export_response(fmt, name, _columns(today)[name], chunked(rows),
                           title=name.replace("-", " ").capitalize())


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}


@require_http_methods(["GET", "POST"])
@require_capability("disconnections.view", POST="disconnections.manage")
def candidate_list(request: HttpRequest) -> HttpResponseBase:
    """Who the rule puts up for disconnection; starting one sends the notice."""
    if request.method == "POST":
        client = get_object_or_404(Client, pk=request.POST.get("client") if str(request.POST.get("client", "")).isdigit()
                                   else 0)
        try:
            item = disconnection_start(client=client, actor=request.user)
        except ValidationError as exc:
            for text in sum(_errors(exc).values(), []):
                messages.error(request, f"{client.account_number}: {text}")
        else:
            messages.success(request, f"Notice sent to {client.account_number}: disconnection on "
                                      f"{item.notice_date:%-d %b %Y} unless paid.")
        return redirect("arrears_candidates")
    today = timezone.localdate()
    if fmt := export_format(request):
        return _download(fmt, "candidates", candidates(today=today), today)
    page = Paginator(candidates(today=today), PAGE_SIZE).get_page(request.GET.get("page"))
    for c in page:
        c.days_overdue = (today - c.oldest_due).days  # type: ignore[attr-defined]
    return render(request, "arrears/candidates.html", {
        "active": "arrears", "tab": "candidates", "page": page, "querystring": "", "cfg": ArrearsSettings.load(),
        "can_start": has_capability(request.user, "disconnections.manage")})


@require_capability("disconnections.view")
def disconnection_list(request: HttpRequest) -> HttpResponseBase:
    status = request.GET.get("status", "")
    found = disconnections_list(status=status if status.isidentifier() else "")
    if fmt := export_format(request):
        return _download(fmt, "disconnections", found)
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "arrears/disconnections.html", {
        "active": "arrears", "tab": "disconnections", "page": page, "querystring": f"status={status}" if status else "",
        "status": status, "statuses": _statuses()})


def _statuses() -> list[tuple[str, str]]:
    from arrears.models import Disconnection

    return list(Disconnection.Status.choices)


@require_capability("plans.manage")
def plan_list(request: HttpRequest) -> HttpResponseBase:
    status = request.GET.get("status", "")
    qs = plans_list(status=status if status in PaymentPlan.Status.values else "")
    if fmt := export_format(request):
        return _download(fmt, "plans", qs)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "arrears/plans.html", {
        "active": "arrears", "tab": "plans", "page": page, "status": status, "statuses": PaymentPlan.Status.choices,
        "querystring": f"status={status}" if status else ""})


@require_http_methods(["GET", "POST"])
@require_capability("plans.manage")
def plan_new(request: HttpRequest) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    raw = request.POST if request.method == "POST" else request.GET
    client = None
    if str(raw.get("client", "")).isdigit():
        client = Client.objects.filter(pk=int(raw["client"])).first()
    account = str(raw.get("account", "")).strip()
    if client is None and account:  # staff know clients by account number, not by id
        client = Client.objects.filter(account_number__iexact=account).first()
    if request.method == "POST":
        data = request.POST.copy()
        if client is not None:
            data["client"] = str(client.pk)
        cleaned, errors = clean_plan(data)
        if "client" in errors and "client" not in request.POST:
            errors["account"] = [MSG_NO_ACCOUNT] if client is None else errors.pop("client")
            errors.pop("client", None)
        if not errors:
            try:
                plan = plan_create(actor=request.user, **cleaned)
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                messages.success(request, "Payment plan made; the client is told by SMS.")
                return redirect("plan_detail", pk=plan.pk)
    return render(request, "arrears/plan_new.html", {
        "active": "arrears", "tab": "plans", "client": client, "errors": errors,
        "data": request.POST if request.method == "POST" else {},
        "balance": client_balance(client.pk) if client else None}, status=400 if errors else 200)


MSG_NO_ACCOUNT = "Enter the account number of a client of this provider."


@require_http_methods(["GET", "POST"])
@require_capability("plans.manage")
def plan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_object_or_404(PaymentPlan.objects.select_related("client", "created_by", "decided_by"), pk=pk)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            if request.POST.get("decision") == "approve":
                plan_approve(plan=plan, actor=request.user)
                messages.success(request, "Plan approved; the client is told by SMS.")
            else:
                plan_decline(plan=plan, reason=request.POST.get("reason", ""), actor=request.user)
                messages.success(request, "Plan declined; the client is told the reason by SMS.")
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            return redirect("plan_detail", pk=plan.pk)
    return render(request, "arrears/plan_detail.html", {
        "active": "arrears", "tab": "plans", "plan": plan, "instalments": list(plan.instalments.all()),
        "errors": errors, "balance": client_balance(plan.client_id)}, status=400 if errors else 200)


@require_http_methods(["GET", "POST"])
@require_capability("disconnections.view", POST="disconnections.manage")
def arrears_settings(request: HttpRequest) -> HttpResponse:
    cfg = ArrearsSettings.load()
    can_manage = has_capability(request.user, "disconnections.manage")
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied
        cleaned, errors = clean_settings(request.POST)
        if not errors:
            settings_update(actor=request.user, **cleaned)
            messages.success(request, "Disconnection rule and plan settings saved.")
            return redirect("arrears_settings")
    return render(request, "arrears/settings.html", {
        "active": "arrears", "tab": "settings", "cfg": cfg, "errors": errors,
        "fixed_charges_when_disconnected": BillingSettings.load().disconnected_fixed_charges,
        "data": request.POST if errors else None, "can_manage": can_manage}, status=400 if errors else 200)


@require_http_methods(["GET", "POST"])
@require_capability("write_offs.manage")
def write_off_list(request: HttpRequest) -> HttpResponseBase:
    """Closed accounts still owing, each with a write-off form (the owner's)."""
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        client = get_object_or_404(Client, pk=request.POST.get("client") if str(request.POST.get("client", "")).isdigit()
                                   else 0)
        try:
            entry = write_off(client=client, reason=request.POST.get("reason", ""), actor=request.user)
        except ValidationError as exc:
            errors = _errors(exc)
            for text in sum(errors.values(), []):
                messages.error(request, f"{client.account_number}: {text}")
        else:
            messages.success(request, f"{entry.reference}: {client.account_number}'s bad debt written off.")
        return redirect("write_off_list")
    owing = (Client.objects.filter(status=Client.Status.CLOSED).annotate(balance=balance_of_client())
             .filter(balance__gt=0).order_by("account_number"))
    if fmt := export_format(request):
        return _download(fmt, "write-offs", owing)
    done = (LedgerEntry.objects.filter(kind=LedgerEntry.Kind.WRITE_OFF).select_related("client", "created_by")
            .order_by("-id")[:50])
    page = Paginator(owing, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "arrears/write_offs.html", {
        "active": "arrears", "tab": "write_offs", "page": page, "done": done, "querystring": ""})
