"""Service requests and work orders hold personal data (what the client wrote, photos of the
premises): in the client's export, cleared by erasure, purged by retention with the records
they name."""

from __future__ import annotations

from datetime import UTC, date, datetime

import time_machine
from django.core.files.storage import default_storage
from django.test import TestCase

from fieldwork.models import ServiceRequest, WorkOrder
from fieldwork.services import (
    service_request_create,
    service_request_resolve,
    work_order_complete,
    work_order_open,
)
from meters.models import Reading
from privacy.erasure import client_pseudonymise
from privacy.exports import client_datasets, provider_datasets
from privacy.retention import retention_apply
from tests.billing_helpers import on, read
from tests.fieldwork.helpers import photo, reachable


def _rows(datasets, name):  # type: ignore[no-untyped-def]
    [dataset] = [d for d in datasets if d.name == name]
    return [dict(zip(dataset.columns, row, strict=True)) for row in dataset.rows()]


def test_the_client_s_export_holds_their_requests_and_work_orders(tenant) -> None:  # type: ignore[no-untyped-def]
    client, meter = reachable()
    other, _ = reachable("Nelson Neighbour")
    read(meter, "10", "2026-10-31")
    mine = service_request_create(client=client, kind="leak", description="Leak by the blue gate", actor="test",
                                  photo=photo())
    service_request_create(client=other, kind="leak", description="Nelson's own leak", actor="test")
    order = work_order_open(client=client, kind="service", due_on=date(2026, 11, 24), instructions="Blue gate",
                            service_request_id=mine.pk)
    work_order_complete(order=order, actor="test", reading="12")
    sets = client_datasets(client)
    [request] = _rows(sets, "service_requests")
    assert request["reference"] == mine.reference and request["description"] == "Leak by the blue gate"
    assert request["photo"].endswith(".png")
    assert [e["status"] for e in _rows(sets, "service_request_history")] == ["open"]
    [wo] = _rows(sets, "work_orders")
    assert wo["reference"] == order.reference and wo["reading"] == 12 and wo["instructions"] == "Blue gate"
    assert "Nelson" not in repr([_rows(sets, n) for n in ("service_requests", "service_request_history")])
    assert {"fieldwork_servicerequest", "fieldwork_workorder"} <= {d.name for d in provider_datasets()}


def test_erasure_clears_what_they_wrote_and_the_photos(tenant) -> None:  # type: ignore[no-untyped-def]
    client, meter = reachable()
    read(meter, "10", "2026-10-31")
    made = service_request_create(client=client, kind="leak", description="Leak by the blue gate", actor="test",
                                  photo=photo())
    service_request_resolve(request=made, resolution="Fixed at plot 7", actor="test")
    order = work_order_open(client=client, kind="service", due_on=date(2026, 11, 24), instructions="Plot 7, blue gate")
    work_order_complete(order=order, actor="test", reading="12", note="Dog at plot 7", photo=photo())
    files = [ServiceRequest.objects.get().photo.name, WorkOrder.objects.get().photo.name]
    assert all(default_storage.exists(f) for f in files)
    with TestCase.captureOnCommitCallbacks(execute=True):
        record = client_pseudonymise(client=client, actor="test")
    made.refresh_from_db()
    order.refresh_from_db()
    assert (made.description, made.resolution, made.photo.name) == ("", "", "")
    assert not made.events.exclude(note="").exists()
    assert (order.instructions, order.note, order.photo.name) == ("", "", "")
    assert made.status == "resolved" and order.status == "done" and order.reading.value == 12  # the record stays
    assert record.counts["service_requests"] == 1 and record.counts["work_orders"] == 1
    assert record.counts["field_photos"] == 2 and not any(default_storage.exists(f) for f in files)


def test_retention_purges_old_finished_work_and_keeps_the_rest(tenant) -> None:  # type: ignore[no-untyped-def]
    client, meter = reachable()
    meter.installed_on = date(2025, 1, 1)
    meter.save(update_fields=["installed_on"])
    with time_machine.travel(on("2025-06-01", 10), tick=False):
        read(meter, "5", "2025-05-01")
        old = work_order_open(client=client, kind="service", due_on=date(2025, 6, 1))
        work_order_complete(order=old, actor="test", reading="8", photo=photo())
        request = service_request_create(client=client, kind="leak", description="Old leak", actor="test")
        service_request_resolve(request=request, resolution="Fixed", actor="test")
        still_open = service_request_create(client=client, kind="meter", description="Never closed", actor="test")
    read(meter, "20", "2026-11-20")
    recent = work_order_open(client=client, kind="service", due_on=date(2026, 11, 24))
    work_order_complete(order=recent, actor="test", reading="21")
    old_photo = WorkOrder.objects.get(pk=old.pk).photo.name
    now = datetime(2033, 10, 3, 12, 0, tzinfo=UTC)
    with time_machine.travel(now, tick=False), TestCase.captureOnCommitCallbacks(execute=True):
        run = retention_apply(now=now)
    assert run.counts["work_orders"] == 1 and run.counts["service_requests"] == 1
    assert list(WorkOrder.objects.values_list("pk", flat=True)) == [recent.pk]
    assert list(ServiceRequest.objects.values_list("pk", flat=True)) == [still_open.pk]
    assert WorkOrder.objects.get(pk=recent.pk).reading is not None
    assert not Reading.objects.filter(value=8).exists() and not default_storage.exists(old_photo)
