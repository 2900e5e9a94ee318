"""Arrears test helpers: a client owing a given amount, payments, a field order finished as
fieldwork's completion does it."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from billing.models import Fee
from billing.services import adjustment_post
from clients.models import Client
from fieldwork.models import WorkOrder
from fieldwork.signals import work_order_finished
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
    """What fieldwork's completion does: the order done (the client's status follows its kind)
    or not done, then work_order_finished."""
    order.status = WorkOrder.Status.DONE if done else WorkOrder.Status.NOT_DONE
    order.done_at = timezone.now()
    order.save(update_fields=["status", "done_at"])
    if done:
        status = Client.Status.DISCONNECTED if order.kind == WorkOrder.Kind.DISCONNECT else Client.Status.ACTIVE
        Client.objects.filter(pk=order.client_id).update(status=status)
    work_order_finished.send(sender=WorkOrder, order=order)
