"""Helpers for billing tests: a domestic tariff, metered clients, readings, billing on a given day."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import time_machine
from django.db import connection, connections

from billing.models import Invoice, Tariff
from billing.services import tariff_create
from clients.models import Category, Client
from meters.models import Meter
from meters.services import meter_create, readings_record

NBO = ZoneInfo("Africa/Nairobi")
D = Decimal


def on(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=NBO)


def travel(day: str):  # type: ignore[no-untyped-def]
    """Run the billing as if on `day` (Nairobi, mid-morning)."""
    return time_machine.travel(on(day, 10), tick=True)


def domestic_tariff(**changes: object) -> Tariff:
    fields = {"code": "dom", "name": "Domestic", "category": Category.objects.get(code="domestic"),
              "effective_from": date(2025, 1, 1), "fixed_charge": D("100.00"), "meter_rent": D("0"),
              "sewerage_percent": D("0"), "minimum_charge": D("0"), **changes}
    blocks = fields.pop("blocks", [(D(10), D("40.00")), (D(30), D("55.00")), (None, D("70.00"))])
    return tariff_create(actor="test", blocks=blocks, **fields)


_serials = iter(range(10_000, 99_999))


def metered(name: str = "Billed Client", *, initial: str = "0", capacity: str = "99999.999",
            category: str = "domestic", installed: date = date(2026, 1, 1)) -> tuple[Client, Meter]:
    n = next(_serials)
    client = Client.objects.create(account_number=f"B{n}", full_name=name, category=Category.objects.get(code=category))
    meter = meter_create(actor="test", serial=f"BR-{n}", client=client, installed_on=installed,
                         initial_reading=D(initial), dial_capacity=D(capacity))
    return client, meter


def read(meter: Meter, value: str, day: str, **extra: object) -> None:
    result = readings_record([{"meter": meter.serial, "value": value, "read_at": on(day), **extra}], source="api")
    assert result.errors == [], result.errors


def invoice_of(client: Client, period: str) -> Invoice:
    return Invoice.objects.prefetch_related("lines").get(client=client, period=period)


def lines_of(invoice: Invoice) -> list[tuple[str, Decimal]]:
    return [(ln.kind, ln.amount) for ln in invoice.lines.all()]




@contextmanager
def own_provider(blocker, prefix: str, name: str = ""):  # type: ignore[no-untyped-def]
    """A provider of its own with committed data (its owner logs in as owner@<slug>.test), for
    tests that use several real connections or a server process; its schema is dropped afterwards."""
    from tenants.models import Provider
    from tenants.services import provider_create

    slug = f"{prefix}{uuid.uuid4().hex[:6]}"
    with blocker.unblock():
        provider = provider_create(name=name or f"Test {slug}", slug=slug, owner_email=f"owner@{slug}.test",
                                   owner_password="correct-horse-42", owner_name="Owner").provider
        connection.set_schema_to_public()
    try:
        yield provider
    finally:
        with blocker.unblock():
            connection.set_schema_to_public()
            Provider.objects.get(slug=slug).delete(force_drop=True)
            connections.close_all()
        connection.set_schema_to_public()


def billed_twice(name: str = "Paying Client") -> Client:
    """A client with two issued invoices: September 500.00 (10 m³) and October 940.00 (18 m³)
    (under the `tenant` fixture's domestic tariff)."""
    from billing.runs import billing_run_finalize, billing_run_start

    client, meter = metered(name)
    read(meter, "0", "2026-08-31")
    read(meter, "10", "2026-09-30")
    read(meter, "28", "2026-10-31")
    for period, day in (("2026-09", "2026-10-02"), ("2026-10", "2026-11-02")):
        with travel(day):
            billing_run_finalize(run=billing_run_start(period=period)[0])
    return client
