"""Service requests: reference and due time by kind, status history, assignment, resolution,
cancellation, a work order spawned, the client told by SMS (and email) when received and
resolved; the portal, the staff queue and page."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from accounts.models import AuditEvent, User
from fieldwork.models import FieldSettings, ServiceRequest, WorkOrder
from fieldwork.services import (
    MSG_NOT_OPEN,
    MSG_RESOLUTION_NEEDED,
    service_request_assign,
    service_request_cancel,
    service_request_create,
    service_request_resolve,
    service_request_work_order,
)
from notifications.models import Message
from tests.billing_helpers import on
from tests.fieldwork.helpers import as_user, photo, reachable
from tests.notifications_helpers import sms_ready

NOW = on("2026-11-23", 10)


def _make(client, kind: str = "leak", **extra):  # type: ignore[no-untyped-def]
    return service_request_create(client=client, kind=kind, description="Water running under the gate",
                                  actor=extra.pop("actor", "test"), **extra)


def test_it_numbers_requests_and_sets_the_due_time_by_kind(tenant) -> None:  # type: ignore[no-untyped-def]
    levels = FieldSettings.load()
    levels.leak_hours, levels.billing_hours = 6, 48
    levels.save()
    client, _ = reachable()
    with time_machine.travel(NOW, tick=False):
        leak, bill, other = _make(client), _make(client, "billing"), _make(client, "other")
    assert [leak.reference, bill.reference, other.reference] == ["SR-2026-000001", "SR-2026-000002", "SR-2026-000003"]
    assert leak.due_by == NOW + timedelta(hours=6)
    assert bill.due_by == NOW + timedelta(hours=48)
    assert other.due_by == NOW + timedelta(hours=120)  # the default service level
    assert leak.status == "open" and leak.channel == "portal"


def test_the_description_is_encrypted_at_rest(tenant) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection

    client, _ = reachable()
    made = _make(client)
    with connection.cursor() as cursor:
        cursor.execute("SELECT description FROM fieldwork_servicerequest WHERE id = %s", [made.pk])
        stored = cursor.fetchone()[0]
    assert "gate" not in stored
    assert ServiceRequest.objects.get(pk=made.pk).description == "Water running under the gate"


def test_each_change_is_in_the_history_and_the_audit_trail(tenant) -> None:  # type: ignore[no-untyped-def]
    client, _ = reachable()
    anne = User.objects.get(email="anne@alpha.test")
    ari = User.objects.get(email="ari@alpha.test")
    made = _make(client, actor=anne, channel="phone")
    service_request_assign(request=made, assignee=ari, actor=anne)
    service_request_resolve(request=made, resolution="Valve replaced.", actor=anne)
    made.refresh_from_db()
    assert made.status == "resolved" and made.resolution == "Valve replaced." and made.resolved_at
    history = [(e.status, e.note, e.actor_id) for e in made.events.all()]
    assert history == [("open", "Received (Phone call)", anne.pk), ("in_progress", "Assigned to Ari Kamau", anne.pk),
                       ("resolved", "Valve replaced.", anne.pk)]
    actions = list(AuditEvent.objects.filter(object_repr=made.reference).order_by("id").values_list("action", flat=True))
    assert actions == ["service_request.created", "service_request.assigned", "service_request.resolved"]


def test_a_resolution_needs_words_and_a_closed_request_changes_no_more(tenant) -> None:  # type: ignore[no-untyped-def]
    client, _ = reachable()
    made = _make(client)
    with pytest.raises(ValidationError) as bad:
        service_request_resolve(request=made, resolution="  ", actor="test")
    assert bad.value.message_dict == {"resolution": [MSG_RESOLUTION_NEEDED]}
    service_request_cancel(request=made, reason="Reported twice", actor="test")
    with pytest.raises(ValidationError) as closed:
        service_request_resolve(request=made, resolution="Fixed", actor="test")
    assert closed.value.message_dict == {"detail": [MSG_NOT_OPEN.format(ref=made.reference, status="cancelled")]}


def test_the_client_is_told_by_sms_and_email_when_received_and_resolved(tenant) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    client, _ = reachable()
    made = _make(client)
    received = Message.objects.filter(event="service_request_received", client_id=client.pk)
    assert sorted(received.values_list("channel", flat=True)) == ["email", "sms"]
    sms = received.get(channel="sms")
    assert sms.recipient == "+254712000111" and made.reference in sms.text and sms.status == "queued"
    service_request_resolve(request=made, resolution="Valve replaced.", actor="test")
    resolved = Message.objects.get(event="service_request_resolved", client_id=client.pk, channel="sms")
    assert "Valve replaced." in resolved.text and made.reference in resolved.text
    # The same request never makes a second message (dedup key per request and event).
    from fieldwork import notices

    notices.request_resolved(made)
    assert Message.objects.filter(event="service_request_resolved", client_id=client.pk).count() == 2


def test_no_email_without_an_address(tenant) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    client, _ = reachable(email="")
    _make(client)
    assert list(Message.objects.filter(client_id=client.pk).values_list("channel", flat=True)) == ["sms"]


def test_a_request_spawns_a_service_work_order(tenant) -> None:  # type: ignore[no-untyped-def]
    client, meter = reachable()
    made = _make(client)
    order = service_request_work_order(request=made, actor="test")
    assert order.kind == WorkOrder.Kind.SERVICE and order.service_request_id == made.pk and order.meter == meter
    assert order.reference.startswith("WO-2026-") and order.due_on == made.due_by.date()
    assert order.balance is not None
    made.refresh_from_db()
    assert made.status == "in_progress" and made.events.last().note == f"Work order {order.reference}"


# --- portal ------------------------------------------------------------------------------------
def test_a_client_reports_a_problem_with_a_photo_in_the_portal(tenant) -> None:  # type: ignore[no-untyped-def]
    from clients.models import Client

    sms_ready()
    client, _ = reachable("Carol Chebet")
    Client.objects.filter(pk=client.pk).update(user=User.objects.get(email="carol@alpha.test"))
    carol = as_user("carol@alpha.test")
    response = carol.post("/portal/requests/", {"kind": "no_water", "description": "Dry taps since Monday",
                                                "photo": photo()})
    assert response.status_code == 302
    made = ServiceRequest.objects.get(client=client)
    assert made.channel == "portal" and made.kind == "no_water" and made.photo.name.endswith(".png")
    assert Message.objects.filter(event="service_request_received", client_id=client.pk, channel="sms").exists()
    page = carol.get("/portal/requests/").content.decode()
    assert made.reference in page and "Open" in page
    # Not an image: the form again, with the message.
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = carol.post("/portal/requests/", {"kind": "leak", "description": "x",
                                           "photo": SimpleUploadedFile("a.png", b"not an image")})
    assert bad.status_code == 400 and "JPEG, PNG or WebP" in bad.content.decode()
    assert carol.post("/portal/requests/", {"kind": "flood", "description": ""}).status_code == 400


# --- staff pages -------------------------------------------------------------------------------
def test_the_queue_puts_overdue_first_with_counts_and_filters(tenant, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    client, _ = reachable()
    with time_machine.travel(NOW - timedelta(days=10), tick=False):
        late = _make(client, "meter")
    soon = _make(client, "leak")
    done = _make(client, "billing")
    service_request_resolve(request=done, resolution="Explained the bill.", actor="test")
    for _ in range(5):
        _make(client, "other")
    anne = as_user("anne@alpha.test")
    with django_assert_max_num_queries(12):
        page = anne.get("/dashboard/requests/").content.decode()
    assert page.index(late.reference) < page.index(soon.reference)
    assert done.reference not in page  # open or in progress by default
    assert 'data-testid="count-overdue">1<' in page and 'data-testid="count-open">7<' in page
    leaks = anne.get("/dashboard/requests/?kind=leak&status=").content.decode()
    assert soon.reference in leaks and late.reference not in leaks
    resolved = anne.get("/dashboard/requests/?status=resolved").content.decode()
    assert done.reference in resolved and soon.reference not in resolved


def test_staff_record_a_phone_request_and_act_on_it(tenant) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    client, _ = reachable()
    anne = as_user("anne@alpha.test")
    bad = anne.post("/dashboard/requests/new/", {"account": "NOPE1", "channel": "phone", "kind": "leak",
                                                 "description": "Leak"})
    assert bad.status_code == 400 and "No client with account number NOPE1." in bad.content.decode()
    response = anne.post("/dashboard/requests/new/", {"account": client.account_number, "channel": "phone",
                                                      "kind": "leak", "description": "Leak by the road"})
    made = ServiceRequest.objects.get(client=client)
    assert response.status_code == 302 and response["Location"] == f"/dashboard/requests/{made.pk}/"
    assert made.channel == "phone" and made.created_by.email == "anne@alpha.test"
    url = f"/dashboard/requests/{made.pk}/"
    ari = User.objects.get(email="ari@alpha.test")
    carol = User.objects.get(email="carol@alpha.test")  # a client is nobody to assign work to
    assert anne.post(url, {"action": "assign", "assignee": carol.pk}).status_code == 400
    assert anne.post(url, {"action": "assign", "assignee": ari.pk}).status_code == 302
    spawned = anne.post(url, {"action": "work_order", "due_on": "2026-11-25", "instructions": "Bring a spanner"})
    assert spawned.status_code == 302
    order = WorkOrder.objects.get(service_request=made)
    assert str(order.due_on) == "2026-11-25" and order.instructions == "Bring a spanner"
    ordered = anne.get(url).content.decode()  # while its visit is open, no second one is offered
    assert 'data-testid="visit-open"' in ordered and 'data-testid="spawn-work-order"' not in ordered
    empty = anne.post(url, {"action": "resolve", "resolution": ""})
    assert empty.status_code == 400 and MSG_RESOLUTION_NEEDED in empty.content.decode()
    assert anne.post(url, {"action": "resolve", "resolution": "Fixed the joint."}).status_code == 302
    page = anne.get(url).content.decode()
    assert "Fixed the joint." in page and "Assigned to Ari Kamau" in page and order.reference in page
    assert Message.objects.filter(event="service_request_resolved", client_id=client.pk, channel="sms").exists()


def test_meter_readers_and_clients_do_not_see_the_queue(tenant) -> None:  # type: ignore[no-untyped-def]
    client, _ = reachable()
    made = _make(client)
    assert as_user("ari@alpha.test").get("/dashboard/requests/").status_code == 403
    assert as_user("ari@alpha.test").post(f"/dashboard/requests/{made.pk}/", {"action": "cancel",
                                                                               "reason": "x"}).status_code == 403
    assert as_user("carol@alpha.test").get(f"/dashboard/requests/{made.pk}/").status_code == 403


def test_another_provider_s_staff_get_404(tenant, beta) -> None:  # type: ignore[no-untyped-def]
    client, _ = reachable()
    made = _make(client)
    made.photo.save("p.png", photo(), save=True)
    bob = as_user("bob@beta.test", "beta")
    for path in (f"/dashboard/requests/{made.pk}/", f"/dashboard/requests/{made.pk}/photo/"):
        assert bob.get(path).status_code == 404, path
    assert bob.post(f"/dashboard/requests/{made.pk}/", {"action": "cancel", "reason": "x"}).status_code == 404
    assert made.reference not in bob.get("/dashboard/requests/?status=").content.decode()


def test_the_client_page_lists_their_requests_and_work_orders(tenant) -> None:  # type: ignore[no-untyped-def]
    client, _ = reachable()
    made = _make(client)
    order = service_request_work_order(request=made, actor="test")
    owner = as_user("alice@alpha.test").get(f"/dashboard/clients/{client.pk}/").content.decode()
    assert made.reference in owner and order.reference in owner and "Record a request" in owner
    accountant = as_user("anne@alpha.test").get(f"/dashboard/clients/{client.pk}/").content.decode()
    assert made.reference in accountant and order.reference not in accountant  # no field work for them
    reader = as_user("ari@alpha.test").get(f"/dashboard/clients/{client.pk}/").content.decode()
    assert made.reference not in reader and order.reference in reader and "Record a request" not in reader


def test_the_owner_sets_the_service_levels(tenant) -> None:  # type: ignore[no-untyped-def]
    levels = {"leak_hours": "4", "no_water_hours": "12", "billing_hours": "48", "meter_hours": "72", "other_hours": "96"}
    alice = as_user("alice@alpha.test")
    assert alice.post("/dashboard/requests/service-levels/", {**levels, "leak_hours": "0"}).status_code == 400
    assert alice.post("/dashboard/requests/service-levels/", levels).status_code == 302
    assert FieldSettings.load().due_after("leak") == timedelta(hours=4)
    assert AuditEvent.objects.get(action="fieldwork.service_levels_changed").extra_data["changed"]["leak_hours"] == [24, 4]
    anne = as_user("anne@alpha.test")
    assert "4 hours" in anne.get("/dashboard/requests/service-levels/").content.decode()
    assert anne.post("/dashboard/requests/service-levels/", levels).status_code == 403
