"""The register's list and the client page: the client with their meters, readings, consumption,
messages and money — a page over clients, meters, billing and notifications, hence here."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Prefetch
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from accounts.audit_display import action_label
from accounts.models import AuditCategory, AuditEvent
from accounts.permissions import has_capability, require_capability
from accounts.services import audit
from arrears.selectors import client_arrears
from billing.fees import charge_reverse, deposits_held, fee_charge
from billing.models import Charge, Fee, LedgerEntry
from billing.selectors import balance_of_client, client_balance, client_overdue
from clients.models import Category, Client, Zone
from clients.selectors import client_search
from fieldwork.models import ServiceRequest, WorkOrder
from majismart.charts import bar_chart
from majismart.exports import Column, chunked, col, export_format, export_response, label
from majismart.money import kes
from meters.alerts import clients_with_open_alerts, recent_episodes
from meters.models import Meter, Reading
from meters.selectors import monthly_consumption
from notifications.models import CONTACT_TOPICS, Message
from notifications.services import consent_map
from payments.models import Payment
from payments.services import account_close

PAGE_SIZE = 25
TIMELINE_SIZE = 30


@require_capability("clients.view")
def client_list(request: HttpRequest) -> HttpResponseBase:
    q = request.GET
    clients = client_search(query=q.get("q", ""), status=q.get("status", ""), category=q.get("category", ""),
                            zone=q.get("zone", ""))
    if q.get("alert") == "open":
        clients = clients.filter(pk__in=clients_with_open_alerts())
    sees_money = has_capability(request.user, "billing.view")
    if sees_money:  # the ledger's balance, summed in the list's own query (billing.selectors.client_balance)
        clients = clients.annotate(balance=balance_of_client())
    if fmt := export_format(request):
        return _client_download(request, fmt, clients, sees_money)
    page = Paginator(clients, PAGE_SIZE).get_page(q.get("page"))
    if q.get("q", "").strip():
        # A search is a look-up of people: one row per search, with the ids it showed (the words
        # searched for may be a name or a phone, so they are not kept).
        audit(actor=request.user, action="clients.searched", object_repr=f"{len(page)} clients shown",
              client_ids=[c.pk for c in page], page=page.number,
              filters=sorted(k for k in ("status", "category", "zone", "alert") if q.get(k)))
    params = q.copy()
    params.pop("page", None)
    return render(request, "clients/list.html", {
        "active": "clients", "page": page, "q": q, "querystring": params.urlencode(),
        "categories": Category.objects.all(), "zones": Zone.objects.all(), "statuses": Client.Status.choices,
        "can_manage": has_capability(request.user, "clients.manage"), "sees_money": sees_money,
    })


def _client_download(request: HttpRequest, fmt: str, clients: Any, sees_money: bool) -> HttpResponseBase:
    """Every client the filters match, as the list shows them (the balance for roles that see
    money): personal data leaving the system, so one audit row says how many and in what."""
    q = request.GET
    audit(actor=request.user, action="clients.exported", object_repr=f"{clients.count()} clients exported",
          format=fmt, searched=bool(q.get("q", "").strip()),
          filters=sorted(k for k in ("status", "category", "zone", "alert") if q.get(k)))
    columns = [col("Account", "account_number"), col("Name", "full_name"), col("Phone", "phone"), col("Email", "email"),
               col("Category", "category.name"), col("Zone", "zone.name"), col("Location", "location"),
               Column("Status", lambda c: label(Client.Status.choices)(c.status)), col("Joined", "created", "date")]
    if sees_money:
        columns.append(col("Balance (KES)", "balance", "money"))
    return export_response(fmt, "clients", columns, chunked(clients), title="Clients")


@require_capability("clients.view")
def client_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, pk)


def _charges(request: HttpRequest, client: Client, can_see_money: bool) -> dict[str, Any]:
    """The client page's fees and deposits: recent charges (with their bill or reversal), the
    deposit held, and what the charge form offers."""
    if not can_see_money:
        return {}
    deposit = deposits_held([client.pk]).get(client.pk)
    return {
        "charges": (Charge.objects.filter(client=client).select_related("invoice", "ledger_entry")
                    .annotate(reversed=Exists(LedgerEntry.objects.filter(reverses_id=OuterRef("ledger_entry_id"))))
                    .order_by("-created", "-id")[:10]),
        "deposit": deposit,
        "fees": Fee.objects.filter(active=True).order_by("kind", "name") if has_capability(request.user, "fees.charge") else [],
    }


def _detail(request: HttpRequest, pk: int, *, charge_errors: dict[str, list[str]] | None = None,
            charge_data: object = None, status: int = 200) -> HttpResponse:
    client = get_object_or_404(
        Client.objects.select_related("category", "zone").prefetch_related(
            Prefetch("meters", queryset=Meter.objects.order_by("-status", "serial"))),
        pk=pk)
    audit(actor=request.user, action="client.viewed", object_repr=client.account_number, target=client,
          page="detail")
    meter_ids = [m.pk for m in client.meters.all()]
    readings = (Reading.objects.filter(meter_id__in=meter_ids).select_related("meter", "recorded_by")
                .order_by("-read_at")[:24])
    can_message = has_capability(request.user, "messages.send")
    can_see_requests = has_capability(request.user, "service_requests.view")
    can_see_orders = has_capability(request.user, "work_orders.view")
    can_see_money = has_capability(request.user, "billing.view")
    return render(request, "clients/detail.html", {
        "active": "clients", "client": client, "readings": readings, "leak_episodes": recent_episodes(client.pk),
        "can_see_messages": has_capability(request.user, "messages.view"), "can_message": can_message,
        "sent": Message.objects.filter(client_id=client.pk).order_by("-created")[:10],
        "prefs": consent_map([client.pk])[client.pk], "topics": [(t.value, t.label) for t in CONTACT_TOPICS],
        "chart": bar_chart(monthly_consumption(meter_ids)),
        "can_manage": has_capability(request.user, "clients.manage"),
        "can_see_identity": has_capability(request.user, "clients.view_sensitive"),
        "can_record": has_capability(request.user, "readings.record"),
        "can_see_statement": can_see_money,
        "timeline": _timeline(request, client) if can_see_money else None,
        "can_see_requests": can_see_requests, "can_see_orders": can_see_orders,
        "can_record_request": has_capability(request.user, "service_requests.manage"),
        "service_requests": list(ServiceRequest.objects.filter(client=client).order_by("-created", "-id")[:10])
        if can_see_requests else [],
        "work_orders": list(WorkOrder.objects.filter(client=client).order_by("-created", "-id")[:10])
        if can_see_orders else [],
        **({"balance": client_balance(client.pk), "overdue": client_overdue(client.pk),
            "arrears": client_arrears(client.pk)} if can_see_money else {}),
        **_charges(request, client, can_see_money), "charge_errors": charge_errors or {}, "charge_data": charge_data or {},
        "can_charge": has_capability(request.user, "fees.charge") and client.status != Client.Status.CLOSED,
        "can_reverse": has_capability(request.user, "billing.run"),
    }, status=status)


@require_http_methods(["POST"])
@require_capability("fees.charge")
def client_charge(request: HttpRequest, pk: int) -> HttpResponse:
    """Charge a catalogue fee from the client page (now, or on a one-off bill)."""
    client = get_object_or_404(Client, pk=pk)
    try:
        charge = fee_charge(client=client, code=request.POST.get("fee", ""), amount=request.POST.get("amount", ""),
                            note=request.POST.get("note", ""), actor=request.user,
                            bill_now=bool(request.POST.get("bill_now")))
    except ValidationError as exc:
        return _detail(request, pk, charge_errors=exc.message_dict, charge_data=request.POST, status=400)
    where = f"billed on {charge.invoice.number}" if charge.invoice else "on the next bill"
    messages.success(request, f"{charge.description} of {kes(charge.amount)} charged ({where}).")
    return redirect("client_detail", pk=pk)


@require_http_methods(["POST"])
@require_capability("billing.run")
def client_charge_reverse(request: HttpRequest, pk: int, charge_id: int) -> HttpResponse:
    charge = get_object_or_404(Charge, pk=charge_id, client_id=pk)
    try:
        charge_reverse(charge=charge, reason=request.POST.get("reason", ""), actor=request.user)
        messages.success(request, f"{charge.description} of {kes(charge.amount)} reversed"
                                  f"{f' by a credit note on {charge.invoice.number}' if charge.invoice else ''}.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("client_detail", pk=pk)


REFUND_METHODS = [(m.value, m.label) for m in (Payment.Method.MPESA, Payment.Method.CASH, Payment.Method.BANK,
                                               Payment.Method.CHEQUE)]


@require_http_methods(["GET", "POST"])
@require_capability("clients.manage")
def client_close(request: HttpRequest, pk: int) -> HttpResponse:
    """Close an account: the deposit held goes to the final balance and the rest is refunded."""
    client = get_object_or_404(Client, pk=pk)
    errors: dict[str, list[str]] = {}
    if request.method == "POST" and client.status != Client.Status.CLOSED:
        try:
            closed = account_close(client=client, actor=request.user,
                                   refund_method=request.POST.get("refund_method", ""),
                                   refund_reference=request.POST.get("refund_reference", ""))
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            refunded = f"; {kes(closed.refund.amount)} refunded" if closed.refund else ""
            messages.success(request, f"Account {client.account_number} closed. Deposit applied: "
                                      f"{kes(closed.deposit_applied)}{refunded}.")
            return redirect("client_detail", pk=pk)
    balance = client_balance(client.pk)
    deposit = deposits_held([client.pk]).get(client.pk)
    held = deposit.held if deposit else balance * 0
    return render(request, "clients/close.html", {
        "active": "clients", "client": client, "balance": balance, "held": held,
        "after": balance - held, "refund": min(held, max(held - balance, held * 0)),
        "methods": REFUND_METHODS, "errors": errors, "data": request.POST if errors else {}},
        status=400 if errors else 200)


# Events of work the viewer's role does not see elsewhere stay off its timeline too.
TIMELINE_NEEDS = {"work_order.": "work_orders.view", "service_request.": "service_requests.view"}


def _timeline(request: HttpRequest, client: Client) -> list[AuditEvent]:
    """What happened to this account, newest first: every change audited against it (fees, plans,
    disconnection and reconnection, work orders, requests, payments recorded, edits), not who
    looked at it. One query on the audit log's target index."""
    events = AuditEvent.objects.filter(target_type="client", target_id=client.pk).exclude(category=AuditCategory.ACCESS)
    for prefix, capability in TIMELINE_NEEDS.items():
        if not has_capability(request.user, capability):
            events = events.exclude(action__startswith=prefix)
    shown = list(events.only("action", "actor", "object_repr", "created")[:TIMELINE_SIZE])
    for event in shown:
        event.label = action_label(event.action)  # type: ignore[attr-defined]
    return shown
