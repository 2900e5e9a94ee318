"""The API of field work (shared/API.md): GET, POST /service-requests/, GET /work-orders/,
POST /work-orders/{id}/complete/ and (an extension) /work-orders/{id}/not-done/."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import Role
from accounts.services import api_key_create
from fieldwork.models import ServiceRequest, WorkOrder
from fieldwork.services import service_request_create, work_order_open
from notifications.models import Message
from tests.billing_helpers import D, read
from tests.conftest import api_client
from tests.fieldwork.helpers import as_user, reachable
from tests.notifications_helpers import sms_ready

SR = "/api/v1/service-requests/"
WO = "/api/v1/work-orders/"


def _key(role: str):  # type: ignore[no-untyped-def]
    return api_client("alpha", api_key_create(name=f"fieldwork {role}", role=role)[1])


def _order(kind: str = "disconnect") -> WorkOrder:
    client, meter = reachable()
    read(meter, "40", "2026-10-31")
    return work_order_open(client=client, kind=kind, due_on=date(2026, 11, 24), balance=D("2450.00"))


def test_post_a_service_request(tenant, alpha_api) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    client, _ = reachable()
    response = alpha_api.post(SR, {"client": client.pk, "kind": "leak", "description": "Pipe burst"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    made = ServiceRequest.objects.get(pk=body["id"])
    assert body["reference"] == made.reference and body["status"] == "open" and body["channel"] == "api"
    assert body["due_by"] == timezone.localtime(made.due_by).isoformat()
    assert Message.objects.filter(event="service_request_received", client_id=client.pk, channel="sms").exists()


@pytest.mark.parametrize(("body", "errors"), [
    ({"kind": "leak", "description": "x"}, {"client": ["This field is required."]}),
    ({"client": 999999, "kind": "leak", "description": "x"}, {"client": ["No client with id 999999."]}),
    ({"client": "abc", "kind": "leak", "description": "x"}, {"client": ["No client with id abc."]}),
    ({"client": "CLIENT", "kind": "flood", "description": "x"},
     {"kind": ["Choose one of: leak, no_water, billing, meter, other."]}),
    ({"client": "CLIENT", "kind": "leak", "description": "  "}, {"description": ["This field is required."]}),
    ({"client": "CLIENT", "kind": "leak", "description": "x" * 2001}, {"description": ["At most 2000 characters."]}),
    ({"client": "CLIENT", "kind": "leak", "description": "x", "priority": 1}, {"priority": ["Unknown field."]}),
])
def test_bad_service_requests_are_400_with_field_messages(tenant, alpha_api, body, errors) -> None:  # type: ignore[no-untyped-def]
    client, _ = reachable()
    body = {k: (client.pk if v == "CLIENT" else v) for k, v in body.items()}
    response = alpha_api.post(SR, body, format="json")
    assert response.status_code == 400 and response.json() == errors
    assert alpha_api.post(SR, [1, 2], format="json").json() == {"detail": ["Send a JSON object."]}
    assert not ServiceRequest.objects.exists()


def test_list_service_requests_in_a_pinned_number_of_queries(tenant, alpha_api, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    client, _ = reachable()
    for kind in ("leak", "meter", "leak", "billing", "other"):
        service_request_create(client=client, kind=kind, description="x", actor="test")
    with django_assert_max_num_queries(8):
        body = alpha_api.get(SR).json()
    assert body["count"] == 5 and body["results"][0]["account_number"] == client.account_number
    assert alpha_api.get(SR, {"kind": "leak"}).json()["count"] == 2


def test_roles_of_service_requests(tenant) -> None:  # type: ignore[no-untyped-def]
    client, _ = reachable()
    body = {"client": client.pk, "kind": "leak", "description": "x"}
    assert _key(Role.ACCOUNTANT).post(SR, body, format="json").status_code == 201
    reader = _key(Role.METER_READER)
    assert reader.get(SR).status_code == 403 and reader.post(SR, body, format="json").status_code == 403


def test_list_work_orders_with_filters_in_pinned_queries(tenant, alpha_api, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    orders = [_order(), _order("reconnect"), _order()]
    from accounts.models import User

    ari = User.objects.get(email="ari@alpha.test")
    WorkOrder.objects.filter(pk=orders[0].pk).update(assigned_to=ari)
    with django_assert_max_num_queries(8):
        body = alpha_api.get(WO).json()
    assert body["count"] == 3
    first = next(r for r in body["results"] if r["id"] == orders[0].pk)
    assert first["balance"] == "2450.00" and first["meter"] == orders[0].meter.serial
    assert first["assigned_to"] == "ari@alpha.test" and first["status"] == "open"
    assert alpha_api.get(WO, {"kind": "reconnect"}).json()["count"] == 1
    assert alpha_api.get(WO, {"assigned_to": "me"}).json()["count"] == 0  # a key is nobody's
    mine = as_user("ari@alpha.test").get(WO, {"assigned_to": "me"}).json()
    assert [r["id"] for r in mine["results"]] == [orders[0].pk]


def test_complete_a_work_order_through_the_api(tenant) -> None:  # type: ignore[no-untyped-def]
    order = _order()
    reader = _key(Role.METER_READER)
    url = f"{WO}{order.pk}/complete/"
    low = reader.post(url, {"reading": "39", "done_at": "2026-11-23T09:00:00+03:00"}, format="json")
    assert low.status_code == 400 and low.json()["reading"][0].startswith("39.000 is lower than the previous reading")
    bad = reader.post(url, {"reading": "45", "done_at": "yesterday"}, format="json")
    assert bad.status_code == 400 and list(bad.json()) == ["done_at"]
    assert reader.post(url, {"reading": "45", "colour": "red"}, format="json").json() == {"colour": ["Unknown field."]}
    response = reader.post(url, {"reading": "45.5", "done_at": "2026-11-23T09:00:00+03:00", "note": "Off"},
                           format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "done" and body["note"] == "Off" and body["reading"]
    assert body["done_at"] == "2026-11-23T09:00:00+03:00"
    order.refresh_from_db()
    assert order.client.status == "disconnected" and order.reading.value == D("45.500")
    twice = reader.post(url, {"reading": "46"}, format="json")
    assert twice.status_code == 400 and "already done" in twice.json()["detail"][0]


def test_not_done_through_the_api(tenant, alpha_api) -> None:  # type: ignore[no-untyped-def]
    order = _order()
    url = f"{WO}{order.pk}/not-done/"
    assert alpha_api.post(url, {"reason": ""}, format="json").json() == {"reason": ["Say why the work could not be done."]}
    response = alpha_api.post(url, {"reason": "Gate locked"}, format="json")
    assert response.status_code == 200 and response.json()["not_done_reason"] == "Gate locked"


def test_an_accountant_cannot_complete_work_orders(tenant) -> None:  # type: ignore[no-untyped-def]
    order = _order()
    accountant = _key(Role.ACCOUNTANT)
    assert accountant.get(WO).status_code == 403
    assert accountant.post(f"{WO}{order.pk}/complete/", {"reading": "45"}, format="json").status_code == 403


def test_another_provider_gets_404_and_sees_nothing(tenant, beta_api) -> None:  # type: ignore[no-untyped-def]
    order = _order()
    client = order.client
    service_request_create(client=client, kind="leak", description="x", actor="test")
    assert beta_api.post(f"{WO}{order.pk}/complete/", {"reading": "45"}, format="json").status_code == 404
    assert beta_api.post(f"{WO}{order.pk}/not-done/", {"reason": "x"}, format="json").status_code == 404
    assert beta_api.get(WO).json()["count"] == 0 and beta_api.get(SR).json()["count"] == 0
    refused = beta_api.post(SR, {"client": client.pk, "kind": "leak", "description": "x"}, format="json")
    assert refused.status_code == 400 and refused.json() == {"client": [f"No client with id {client.pk}."]}
    with tenant_context(tenant):
        assert WorkOrder.objects.get(pk=order.pk).status == "open" and ServiceRequest.objects.count() == 1
