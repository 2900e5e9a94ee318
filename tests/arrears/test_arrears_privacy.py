"""Plans and disconnections are the client's data: in their export (with the fees they were
charged), and purged by retention once ended before the cutoff — a disconnection with the work
orders it refers to, never one whose orders stay."""

from __future__ import annotations

from datetime import UTC, date, datetime

import time_machine
from django.test import TestCase
from django.utils import timezone

from arrears import services
from arrears.models import Disconnection, Instalment, PaymentPlan
from billing.fees import fee_charge
from fieldwork.models import WorkOrder
from privacy.exports import client_datasets
from privacy.retention import retention_apply
from tests.arrears.helpers import finish, owing, reconnection_fee
from tests.arrears.test_disconnections import late
from tests.billing_helpers import D, on


def _rows(datasets, name):  # type: ignore[no-untyped-def]
    [dataset] = [d for d in datasets if d.name == name]
    return [dict(zip(dataset.columns, row, strict=True)) for row in dataset.rows()]


def test_the_client_s_export_holds_their_plans_disconnections_and_charges(tenant) -> None:  # type: ignore[no-untyped-def]
    reconnection_fee("1000.00")
    client = late()
    fee_charge(client=client, code="reconnection", note="Called out at night", actor="test")
    item = services.disconnection_start(client=client, actor="test")
    plan = services.plan_create(client=client, instalments=3, first_due=date(2026, 12, 30), actor="test")
    sets = client_datasets(client)
    assert [(c["kind"], c["amount"], c["note"]) for c in _rows(sets, "charges")] == [
        ("fee", D("1000.00"), "Called out at night")]
    assert [(p["id"], p["total"], p["instalment_count"]) for p in _rows(sets, "payment_plans")] == [
        (plan.pk, plan.total, 3)]
    assert [i["amount"] for i in _rows(sets, "plan_instalments")] == list(
        plan.instalments.order_by("number").values_list("amount", flat=True))
    assert [d["notice_date"] for d in _rows(sets, "disconnections")] == [item.notice_date]
    other = owing("200.00", "Someone Else")
    assert _rows(client_datasets(other), "payment_plans") == []  # nothing about anyone else


def test_retention_purges_ended_plans_and_finished_disconnections_with_their_orders(tenant) -> None:  # type: ignore[no-untyped-def]
    reconnection_fee("1000.00")
    client = late()
    with time_machine.travel(on("2026-11-24", 10), tick=False):
        old = services.disconnection_start(client=client, actor="test")
        old.notice_date = timezone.localdate()
        old.save(update_fields=["notice_date"])
        services.disconnections_due()
        finish(WorkOrder.objects.get(source=f"disconnection:{old.pk}"), done=False)  # could not be done
    old.refresh_from_db()
    assert old.status == "not_done"
    broken = PaymentPlan.objects.create(client=client, status="broken", total=D("900.00"), instalment_count=3,
                                        first_due=date(2026, 12, 1), ended=on("2026-12-20", 10))
    Instalment.objects.create(plan=broken, number=1, due_date=date(2026, 12, 1), amount=D("300.00"))
    kept = services.disconnection_start(client=client, actor="test")  # under way: stays, with all it names
    now = datetime(2034, 3, 3, 12, 0, tzinfo=UTC)
    with time_machine.travel(now, tick=False), TestCase.captureOnCommitCallbacks(execute=True):
        run = retention_apply(now=now)
    assert run.counts["disconnections"] == 1 and run.counts["payment_plans"] == 1
    assert list(Disconnection.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not PaymentPlan.objects.exists() and not Instalment.objects.exists()
    assert not WorkOrder.objects.filter(source=f"disconnection:{old.pk}").exists()


def test_erasure_clears_the_words_about_the_person_and_keeps_the_records(tenant) -> None:  # type: ignore[no-untyped-def]
    from billing.models import Charge
    from privacy.erasure import client_pseudonymise

    reconnection_fee("1000.00")
    client = late()
    fee_charge(client=client, code="reconnection", note="Neighbour Wanjiku let us in", actor="test")
    plan = services.plan_request(client=client, instalments=3, first_due=date(2026, 12, 30),
                                 note="I lost my job at the port", actor="test")
    client_pseudonymise(client=client, actor="test")
    plan.refresh_from_db()
    assert (plan.note, plan.total) == ("", D("2440.00"))  # 1,440.00 arrears + the 1,000.00 fee
    assert list(Charge.objects.filter(client=client).values_list("note", "amount")) == [("", D("1000.00"))]
