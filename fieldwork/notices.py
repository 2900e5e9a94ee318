"""What clients are told about their service requests (received, resolved), by SMS and, when
the account has an address, email, through notifications; one message per request and event
(the dedup key), so a retry sends nothing twice."""

from __future__ import annotations

from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.translation import override

from accounts.languages import chosen_or_default
from fieldwork.models import ServiceRequest
from majismart.tenancy import connection
from majismart.urls import domain_url
from notifications.models import Channel, NotificationSettings
from notifications.services import Outgoing, notify


def _values(request: ServiceRequest) -> dict[str, str]:
    client = request.client
    with override(chosen_or_default(client.language)):  # the kind and the date in the client's language
        kind, due = str(request.get_kind_display()).lower(), date_format(timezone.localtime(request.due_by), "d M Y H:i")
    return {"name": client.full_name, "account": client.account_number, "reference": request.reference,
            "kind": kind, "due": due,
            "resolution": request.resolution, "portal_link": domain_url(connection.tenant.domain, "/portal/requests/")}


def _send(event: str, request: ServiceRequest) -> int:
    cfg = NotificationSettings.load()
    made = 0
    for channel, address in ((Channel.SMS, "phone"), (Channel.EMAIL, "email")):
        recipient = getattr(request.client, address)
        if channel == Channel.EMAIL and not recipient:
            continue  # email only to those who have an address; SMS is logged as skipped without a phone
        made += len(notify(event=event, channel=channel, cfg=cfg, outgoing=[Outgoing(
            key=f"request:{request.pk}", recipient=recipient, values=_values(request), client_id=request.client_id)]))
    return made


def request_received(request: ServiceRequest) -> int:
    return _send("service_request_received", request)


def request_resolved(request: ServiceRequest) -> int:
    return _send("service_request_resolved", request)
