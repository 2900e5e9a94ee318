"""Writes of field work: the only place work orders and service requests change."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.services import audit
from billing.services import sequence_take
from clients.models import Client
from fieldwork.models import WorkOrder
from meters.models import Meter


def work_order_reference() -> str:
    """WO-2026-000123: per provider and year, gapless (taken in the transaction that stores it)."""
    year = timezone.localdate().year
    return f"WO-{year}-{sequence_take(f'WO-{year}'):06d}"


def work_order_open(*, client: Client, kind: str, due_on: date, actor: Any = None, source: str | None = None,
                    instructions: str = "", balance: Decimal | None = None, meter: Meter | None = None,
                    service_request_id: int | None = None) -> WorkOrder:
    """A work order for the field staff. With `source` ("disconnection:42"), at most one per
    source ever: a second call (a retried task) returns the first one."""
    if source:
        existing = WorkOrder.objects.filter(source=source).first()
        if existing is not None:
            return existing
    if meter is None:
        meter = client.meters.filter(status=Meter.Status.ACTIVE).order_by("installed_on", "id").first()
    try:
        with transaction.atomic():
            order = WorkOrder.objects.create(
                reference=work_order_reference(), kind=kind, client=client, meter=meter, source=source or None,
                instructions=instructions, balance=balance, due_on=due_on, service_request_id=service_request_id,
                created_by=actor if getattr(actor, "pk", None) else None)
    except IntegrityError:  # the same source opened concurrently: theirs stands
        if source:
            return WorkOrder.objects.get(source=source)
        raise
    audit(actor=actor or "system", action="work_order.opened", object_repr=order.reference, target=client,
          kind=kind, work_order=order.pk)
    return order
