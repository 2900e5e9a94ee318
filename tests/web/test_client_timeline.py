"""The client page's timeline: every change audited against the account, newest first (issue 19:
each step of collections and field work is on it), for the roles that see money; not who looked."""

from __future__ import annotations

from django.test import Client as Http
from django.utils import timezone

from accounts.audit_display import action_label
from billing.services import adjustment_post
from fieldwork.models import WorkOrder
from fieldwork.services import service_request_create, work_order_open
from tests.billing_helpers import metered
from tests.conftest import host_of, login


def _page(email: str, pk: int) -> str:
    http = Http(HTTP_HOST=host_of("alpha"))
    assert login(http, email).status_code == 302
    response = http.get(f"/dashboard/clients/{pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_timeline_lists_each_step_newest_first_for_those_who_see_money(tenant) -> None:  # type: ignore[no-untyped-def]
    client, _meter = metered("Timeline Client")
    adjustment_post(client=client, amount="300.00", reason="Arrears brought over", actor="test")
    request = service_request_create(client=client, kind="leak", description="Pipe burst at the gate", actor="test",
                                     channel="phone")
    order = work_order_open(client=client, kind=WorkOrder.Kind.SERVICE, due_on=timezone.localdate(), actor="test",
                            service_request_id=request.pk)

    page = _page("alice@alpha.test", client.pk)  # the owner
    timeline = page.split('data-testid="client-timeline"')[1]
    labels = [action_label(a) for a in ("work_order.opened", "service_request.created", "adjustment.posted")]
    positions = [timeline.index(label) for label in labels]
    assert positions == sorted(positions), "newest first"
    assert order.reference in timeline and request.reference in timeline
    # Looking at the page is in the audit log, not on the timeline.
    assert action_label("client.viewed") not in timeline

    # The accountant sees the money and the requests, not the field work (nor, here, its orders).
    accountant = _page("anne@alpha.test", client.pk).split('data-testid="client-timeline"')[1]
    assert request.reference in accountant and order.reference not in accountant

    # The meter reader sees the client's meters, not its money nor its history.
    assert 'data-testid="client-timeline"' not in _page("ari@alpha.test", client.pk)
