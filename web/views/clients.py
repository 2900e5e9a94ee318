"""The register's list and the client page: the client with their meters, readings, consumption,
messages and money — a page over clients, meters, billing and notifications, hence here."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts.audit_display import action_label
from accounts.models import AuditCategory, AuditEvent
from accounts.permissions import has_capability, require_capability
from accounts.services import audit
from arrears.selectors import client_arrears
from billing.selectors import balance_of_client, client_balance, client_overdue
from clients.models import Category, Client, Zone
from clients.selectors import client_search
from fieldwork.models import ServiceRequest, WorkOrder
from majismart.charts import bar_chart
from meters.models import Meter, Reading
from meters.selectors import monthly_consumption
from notifications.models import CONTACT_TOPICS, Message
from notifications.services import consent_map

PAGE_SIZE = 25
TIMELINE_SIZE = 30


@require_capability("clients.view")
def client_list(request: HttpRequest) -> HttpResponse:
    q = request.GET
    clients = client_search(query=q.get("q", ""), status=q.get("status", ""), category=q.get("category", ""),
                            zone=q.get("zone", ""))
    sees_money = has_capability(request.user, "billing.view")
    if sees_money:  # the ledger's balance, summed in the list's own query (billing.selectors.client_balance)
        clients = clients.annotate(balance=balance_of_client())
    page = Paginator(clients, PAGE_SIZE).get_page(q.get("page"))
    if q.get("q", "").strip():
        # A search is a look-up of people: one row per search, with the ids it showed (the words
        # searched for may be a name or a phone, so they are not kept).
        audit(actor=request.user, action="clients.searched", object_repr=f"{len(page)} clients shown",
              client_ids=[c.pk for c in page], page=page.number,
              filters=sorted(k for k in ("status", "category", "zone") if q.get(k)))
    params = q.copy()
    params.pop("page", None)
    return render(request, "clients/list.html", {
        "active": "clients", "page": page, "q": q, "querystring": params.urlencode(),
        "categories": Category.objects.all(), "zones": Zone.objects.all(), "statuses": Client.Status.choices,
        "can_manage": has_capability(request.user, "clients.manage"), "sees_money": sees_money,
    })


@require_capability("clients.view")
def client_detail(request: HttpRequest, pk: int) -> HttpResponse:
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
        "active": "clients", "client": client, "readings": readings,
        "can_see_messages": has_capability(request.user, "messages.view"), "can_message": can_message,
        "sent": Message.objects.filter(client_id=client.pk).order_by("-created")[:10],
        "prefs": consent_map([client.pk])[client.pk], "topics": [(t.value, t.label) for t in CONTACT_TOPICS],
        "chart": bar_chart(monthly_consumption(meter_ids)),
        "can_manage": has_capability(request.user, "clients.manage"),
        "can_see_identity": has_capability(request.user, "clients.view_sensitive"),
        "can_record": has_capability(request.user, "readings.record"),
        "can_see_statement": can_see_money,
        "timeline": _timeline(client) if can_see_money else None,
        "can_see_requests": can_see_requests, "can_see_orders": can_see_orders,
        "can_record_request": has_capability(request.user, "service_requests.manage"),
        "service_requests": list(ServiceRequest.objects.filter(client=client).order_by("-created", "-id")[:10])
        if can_see_requests else [],
        "work_orders": list(WorkOrder.objects.filter(client=client).order_by("-created", "-id")[:10])
        if can_see_orders else [],
        **({"balance": client_balance(client.pk), "overdue": client_overdue(client.pk),
            "arrears": client_arrears(client.pk)} if can_see_money else {}),
    })


def _timeline(client: Client) -> list[AuditEvent]:
    """What happened to this account, newest first: every change audited against it (fees, plans,
    disconnection and reconnection, work orders, requests, payments recorded, edits), not who
    looked at it. One query on the audit log's target index."""
    events = list(AuditEvent.objects.filter(target_type="client", target_id=client.pk)
                  .exclude(category=AuditCategory.ACCESS)
                  .only("action", "actor", "object_repr", "created")[:TIMELINE_SIZE])
    for event in events:
        event.label = action_label(event.action)  # type: ignore[attr-defined]
    return events
