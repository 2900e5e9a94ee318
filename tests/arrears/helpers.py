"""Arrears test helpers: a client owing a given amount, payments, a field order finished as
fieldwork's completion does it."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from billing.models import Fee
from billing.services import adjustment_post
from clients.models import Client
from fieldwork.models import WorkOrder
from payments.services import payment_record
from tests.billing_helpers import metered

_receipts = iter(range(1, 1_000_000))


def owing(amount: str, name: str = "Owing Client") -> Client:
    client, _meter = metered(name)
    client.phone = "+254712345678"
    client.save(update_fields=["phone"])
    adjustment_post(client=client, amount=amount, reason="Arrears brought over", actor="test")
    return client


def pay(client: Client, amount: str) -> None:
    """A cash payment, its receivers run as after its commit (Celery is eager in tests)."""
    payment_record(method="cash", receipt=f"ARR-{next(_receipts)}", amount=Decimal(amount), paid_at=timezone.now(),
                   client=client, actor="test")


def reconnection_fee(amount: str = "1000.00") -> Fee:
    return Fee.objects.create(code="reconnection", name="Reconnection fee", amount=Decimal(amount), kind="fee")


def finish(order: WorkOrder, *, done: bool = True) -> None:
    """The field officer finishes the order through fieldwork's own services (a reading above the
    meter's last when it has one); work_order_finished runs as after the commit."""
    from django.test import TestCase

    from fieldwork.services import work_order_complete, work_order_not_done
    from meters.models import Reading

    with TestCase.captureOnCommitCallbacks(execute=True):
        if not done:
            work_order_not_done(order=order, actor="test", reason="Gate locked")
            return
        reading = None
        if order.meter is not None:
            last = Reading.objects.filter(meter=order.meter).order_by("-read_at").values_list("value", flat=True).first()
            reading = (last if last is not None else order.meter.initial_reading) + 1
        work_order_complete(order=order, actor="test", reading=reading)
