"""Work orders: completed with a reading through the readings pipeline (a lower one refused with
its message), never twice, or marked not done with a reason; a disconnection makes the client
disconnected, a reconnection active again (audited), and work_order_finished is sent after commit.
The field officer's phone page, the order page, the list for managers."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import TestCase
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import AuditEvent, User
from accounts.permissions import has_capability
from clients.models import Client, Zone
from fieldwork.models import WorkOrder
from fieldwork.services import (
    MSG_REASON_NEEDED,
    work_order_complete,
    work_order_not_done,
    work_order_open,
)
from fieldwork.signals import work_order_finished
from meters.models import Reading
from meters.validation import MSG_BELOW_PREVIOUS
from tests.billing_helpers import D, read
from tests.fieldwork.helpers import as_user, photo, reachable


@pytest.fixture
def finished():  # type: ignore[no-untyped-def]
    """The orders work_order_finished was sent for."""
    got: list[WorkOrder] = []

    def listen(sender, order, **kwargs):  # type: ignore[no-untyped-def]
        got.append(order)

    work_order_finished.connect(listen, dispatch_uid="test-finished")
    yield got
    work_order_finished.disconnect(dispatch_uid="test-finished")


def _order(kind: str = "disconnect", **extra):  # type: ignore[no-untyped-def]
    client, meter = extra.pop("pair", None) or reachable()
    read(meter, "40", "2026-10-31")
    return work_order_open(client=client, kind=kind, due_on=date(2026, 11, 24), balance=D("2450.00"),
                           instructions="Blue gate behind the church", actor="test", **extra)


def test_completing_a_disconnection_records_the_reading_and_disconnects(tenant, finished) -> None:  # type: ignore[no-untyped-def]
    order = _order(source="disconnection:1")
    ari = User.objects.get(email="ari@alpha.test")
    with TestCase.captureOnCommitCallbacks(execute=True):
        work_order_complete(order=order, actor=ari, reading="52.5", note="Locked at the stopcock", photo=photo())
        assert finished == []  # only after commit
    order.refresh_from_db()
    assert order.status == "done" and order.completed_by == ari and order.photo.name.endswith(".png")
    assert order.reading.value == D("52.500") and order.reading.consumption == D("12.500")
    assert order.reading.source == Reading.Source.MANUAL and order.reading.recorded_by == ari
    assert Client.objects.get(pk=order.client_id).status == "disconnected"
    actions = set(AuditEvent.objects.filter(target_id=order.client_id).values_list("action", flat=True))
    assert {"client.updated", "work_order.completed", "work_order.opened"} <= actions
    assert [o.pk for o in finished] == [order.pk]


def test_completing_a_reconnection_makes_the_client_active(tenant, finished) -> None:  # type: ignore[no-untyped-def]
    client, meter = reachable()
    Client.objects.filter(pk=client.pk).update(status="disconnected")
    order = _order("reconnect", pair=(Client.objects.get(pk=client.pk), meter))
    with TestCase.captureOnCommitCallbacks(execute=True):
        work_order_complete(order=order, actor="test", reading="40")
    assert Client.objects.get(pk=client.pk).status == "active"
    assert [o.kind for o in finished] == ["reconnect"]


def test_a_reading_lower_than_the_meter_s_last_is_refused_with_the_pipeline_s_message(tenant) -> None:  # type: ignore[no-untyped-def]
    order = _order()
    with pytest.raises(ValidationError) as bad:
        work_order_complete(order=order, actor="test", reading="39", done_at=timezone.now())
    [message] = bad.value.message_dict["reading"]
    assert message.startswith("39.000 is lower than the previous reading (40.000 on 31 Oct 2026")
    assert MSG_BELOW_PREVIOUS.split("{when}")[1] in message
    order.refresh_from_db()
    assert order.status == "open" and Client.objects.get(pk=order.client_id).status == "active"


def test_completing_twice_is_a_clear_error(tenant) -> None:  # type: ignore[no-untyped-def]
    order = _order()
    work_order_complete(order=order, actor="test", reading="45")
    with pytest.raises(ValidationError) as twice:
        work_order_complete(order=order, actor="test", reading="46")
    assert "is already done" in twice.value.message_dict["detail"][0]
    assert order.reference in twice.value.message_dict["detail"][0]
    with pytest.raises(ValidationError):
        work_order_not_done(order=order, actor="test", reason="Gate locked")
    assert Reading.objects.filter(meter=order.meter).count() == 2  # 40 and 45, not 46


def test_a_reading_is_needed_and_the_time_cannot_be_in_the_future(tenant) -> None:  # type: ignore[no-untyped-def]
    order = _order()
    with pytest.raises(ValidationError) as none:
        work_order_complete(order=order, actor="test", reading="")
    assert none.value.message_dict == {"reading": ["Enter the meter reading."]}
    with pytest.raises(ValidationError) as future:
        work_order_complete(order=order, actor="test", reading="41", done_at=timezone.now() + timedelta(hours=2))
    assert future.value.message_dict == {"done_at": ["The time cannot be in the future."]}


def test_not_done_needs_a_reason_and_is_finished_too(tenant, finished) -> None:  # type: ignore[no-untyped-def]
    order = _order()
    with pytest.raises(ValidationError) as bad:
        work_order_not_done(order=order, actor="test", reason=" ")
    assert bad.value.message_dict == {"reason": [MSG_REASON_NEEDED]}
    with TestCase.captureOnCommitCallbacks(execute=True):
        work_order_not_done(order=order, actor="test", reason="Dog in the compound")
    order.refresh_from_db()
    assert order.status == "not_done" and order.not_done_reason == "Dog in the compound"
    assert Client.objects.get(pk=order.client_id).status == "active"
    assert [o.status for o in finished] == ["not_done"]


def test_the_same_source_opens_one_order(tenant) -> None:  # type: ignore[no-untyped-def]
    order = _order(source="disconnection:7")
    again = work_order_open(client=order.client, kind="disconnect", due_on=date(2026, 11, 30),
                            source="disconnection:7")
    assert again.pk == order.pk and WorkOrder.objects.count() == 1


def test_meter_readers_complete_work_orders_but_start_no_disconnection(tenant) -> None:  # type: ignore[no-untyped-def]
    ari = User.objects.get(email="ari@alpha.test")
    assert has_capability(ari, "work_orders.complete") and has_capability(ari, "work_orders.view")
    assert not has_capability(ari, "disconnections.manage") and not has_capability(ari, "work_orders.manage")
    anne = User.objects.get(email="anne@alpha.test")
    assert not has_capability(anne, "work_orders.complete")


# --- pages -------------------------------------------------------------------------------------
def test_the_field_list_shows_mine_and_unassigned_by_zone_then_due(tenant, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    ari = User.objects.get(email="ari@alpha.test")
    amos = User.objects.get(email="amos@alpha.test")
    north, south = Zone.objects.create(code="n", name="North"), Zone.objects.create(code="s", name="South")
    orders = []
    for i, (zone, due, who) in enumerate([(south, 3, ari), (north, 5, None), (north, 1, ari), (south, 2, amos)]):
        pair = reachable(f"Client {i}")
        Client.objects.filter(pk=pair[0].pk).update(zone=zone)
        order = work_order_open(client=Client.objects.get(pk=pair[0].pk), kind="disconnect",
                                due_on=date(2026, 11, 23) + timedelta(days=due), balance=D("100"))
        WorkOrder.objects.filter(pk=order.pk).update(assigned_to=who)
        orders.append(order)
    http = as_user("ari@alpha.test")
    with django_assert_max_num_queries(10):
        page = http.get("/dashboard/field/").content.decode()
    refs = [o.reference for o in orders]
    assert refs[3] not in page  # someone else's
    assert page.index(refs[2]) < page.index(refs[1]) < page.index(refs[0])  # North (due 24, 28), then South
    assert "KES 100.00" in page and orders[0].meter.serial in page


def test_a_field_officer_completes_an_order_on_its_page(tenant, finished) -> None:  # type: ignore[no-untyped-def]
    order = _order()
    http = as_user("ari@alpha.test")
    page = http.get(f"/dashboard/work-orders/{order.pk}/").content.decode()
    assert order.client.account_number in page and order.meter.serial in page and "KES 2,450.00" in page
    assert "Blue gate behind the church" in page
    low = http.post(f"/dashboard/work-orders/{order.pk}/", {"reading": "12", "note": "", "photo": photo()})
    assert low.status_code == 400 and "12.000 is lower than the previous reading" in low.content.decode()
    done = http.post(f"/dashboard/work-orders/{order.pk}/", {"reading": "44.2", "done_at": "2026-11-23T09:30",
                                                            "note": "Done", "photo": photo()})
    assert done.status_code == 302
    order.refresh_from_db()
    assert order.status == "done" and order.photo and order.reading.value == D("44.200")
    assert timezone.localtime(order.done_at).strftime("%H:%M") == "09:30"
    again = http.post(f"/dashboard/work-orders/{order.pk}/", {"reading": "45"})
    assert again.status_code == 400 and "already done" in again.content.decode()
    assert http.get(f"/dashboard/work-orders/{order.pk}/photo/")["Content-Type"] == "image/png"


def test_the_reading_is_asked_as_required_when_the_order_has_a_meter(tenant) -> None:  # type: ignore[no-untyped-def]
    order = _order()
    http = as_user("ari@alpha.test")
    page = http.get(f"/dashboard/work-orders/{order.pk}/").content.decode()
    label = page[page.index('for="id_reading"'):page.index("</label>", page.index('for="id_reading"'))]
    assert "Meter reading" in label and "optional" not in label
    empty = http.post(f"/dashboard/work-orders/{order.pk}/", {"reading": "", "note": "Done"})
    assert empty.status_code == 400 and "Enter the meter reading." in empty.content.decode()
    assert WorkOrder.objects.get(pk=order.pk).status == "open"


def test_could_not_complete_on_the_page(tenant) -> None:  # type: ignore[no-untyped-def]
    order = _order()
    http = as_user("ari@alpha.test")
    assert http.post(f"/dashboard/work-orders/{order.pk}/not-done/", {"reason": ""}).status_code == 400
    assert http.post(f"/dashboard/work-orders/{order.pk}/not-done/", {"reason": "Gate locked"}).status_code == 302
    order.refresh_from_db()
    assert order.status == "not_done" and order.not_done_reason == "Gate locked"


def test_managers_list_and_assign_work_orders(tenant, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    orders = [_order() for _ in range(4)]
    ari = User.objects.get(email="ari@alpha.test")
    amos = as_user("amos@alpha.test")
    with django_assert_max_num_queries(12):
        page = amos.get("/dashboard/work-orders/").content.decode()
    assert all(o.reference in page for o in orders) and 'data-testid="count-open">4<' in page
    assert amos.post(f"/dashboard/work-orders/{orders[0].pk}/assign/", {"assigned_to": ari.pk}).status_code == 302
    assert WorkOrder.objects.get(pk=orders[0].pk).assigned_to == ari
    anne = User.objects.get(email="anne@alpha.test")  # an accountant does no field work
    amos.post(f"/dashboard/work-orders/{orders[1].pk}/assign/", {"assigned_to": anne.pk})
    assert WorkOrder.objects.get(pk=orders[1].pk).assigned_to is None
    mine = amos.get(f"/dashboard/work-orders/?assigned_to={ari.pk}").content.decode()
    assert orders[0].reference in mine and orders[2].reference not in mine
    assert as_user("ari@alpha.test").get("/dashboard/work-orders/").status_code == 403
    assert as_user("ari@alpha.test").post(f"/dashboard/work-orders/{orders[2].pk}/assign/",
                                          {"assigned_to": ari.pk}).status_code == 403
    assert as_user("anne@alpha.test").post(f"/dashboard/work-orders/{orders[2].pk}/",
                                           {"reading": "50"}).status_code == 403


def test_another_provider_s_staff_get_404_for_every_work_order_page(tenant, beta) -> None:  # type: ignore[no-untyped-def]
    order = _order()
    work_order_complete(order=order, actor="test", reading="41", photo=photo())
    other = _order()
    bob = as_user("bob@beta.test", "beta")
    for path in (f"/dashboard/work-orders/{other.pk}/", f"/dashboard/work-orders/{order.pk}/photo/"):
        assert bob.get(path).status_code == 404, path
    for path, body in ((f"/dashboard/work-orders/{other.pk}/", {"reading": "50"}),
                       (f"/dashboard/work-orders/{other.pk}/not-done/", {"reason": "x"}),
                       (f"/dashboard/work-orders/{other.pk}/assign/", {"assigned_to": ""})):
        assert bob.post(path, body).status_code == 404, path
    assert other.reference not in bob.get("/dashboard/work-orders/?status=").content.decode()
    with tenant_context(tenant):
        assert WorkOrder.objects.get(pk=other.pk).status == "open"
