"""Bulk (zone) meters, for non-revenue water (issue 20): a zone's meter is read through the same
pipeline as a client's, with the same checks and flags, is never billed, and its accepted readings
give the zone's system input per calendar month, Nairobi time. The `tenant` fixture holds time at
2026-11-23 (Nairobi): every reading here is in its past."""

from __future__ import annotations

import re
from datetime import date, datetime
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from billing.models import BillingRun, Invoice, InvoiceMeter
from billing.runs import billing_run_start
from clients.models import Category, Client, Zone
from meters import validation as v
from meters.models import Meter, Reading
from meters.selectors import bulk_zones, reading_round, system_input
from meters.services import (
    MSG_BULK_NO_CLIENT,
    MSG_CLIENT_NO_ZONE,
    MSG_CLIENT_REQUIRED,
    MSG_ZONE_REQUIRED,
    meter_create,
    meter_replace,
    readings_record,
)
from tests.billing_helpers import D, lines_of, read
from tests.payments.test_payments_collect import as_user

NBO = ZoneInfo("Africa/Nairobi")


def nbo(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=NBO)


def zone(code: str = "bz-north", name: str = "North bulk zone") -> Zone:
    return Zone.objects.create(code=code, name=name)


def client_in(zone_: Zone | None, account: str) -> Client:
    return Client.objects.create(account_number=account, full_name=f"Client {account}", zone=zone_,
                                 category=Category.objects.get(code="domestic"))


def bulk(zone_: Zone, serial: str = "BZ-1", *, initial: str = "1000", capacity: str = "99999.999") -> Meter:
    return meter_create(actor="test", serial=serial, kind=Meter.Kind.BULK, zone=zone_, installed_on=date(2026, 1, 1),
                        initial_reading=D(initial), dial_capacity=D(capacity))


def record(serial: str, value: str, at: datetime, **extra: object):  # type: ignore[no-untyped-def]
    return readings_record([{"meter": serial, "value": value, "read_at": at.isoformat(), **extra}], source="api")


def text(response) -> str:  # type: ignore[no-untyped-def]
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode())))


# --- the model ---------------------------------------------------------------------------------
def test_the_table_keeps_client_meters_with_a_client_and_bulk_meters_with_a_zone_only(tenant) -> None:  # type: ignore[no-untyped-def]
    north = zone()
    someone = client_in(north, "BZ001")
    for fields in ({"kind": "bulk"}, {"kind": "bulk", "zone": north, "client": someone},
                   {"kind": "client"}, {"kind": "client", "client": someone, "zone": north}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Meter.objects.create(serial=f"X-{len(fields)}-{fields['kind']}", installed_on=date(2026, 1, 1), **fields)
    assert Meter.objects.create(serial="OK-B", kind="bulk", zone=north, installed_on=date(2026, 1, 1)).client_id is None
    assert Meter.objects.create(serial="OK-C", client=someone, installed_on=date(2026, 1, 1)).kind == "client"


def test_meter_create_says_which_owner_a_kind_needs(tenant) -> None:  # type: ignore[no-untyped-def]
    from django.core.exceptions import ValidationError

    north, someone = zone(), client_in(None, "BZ002")
    cases = [({"kind": "bulk"}, {"zone": [MSG_ZONE_REQUIRED]}),
             ({"kind": "bulk", "zone": north, "client": someone}, {"client": [MSG_BULK_NO_CLIENT]}),
             ({"kind": "client"}, {"client": [MSG_CLIENT_REQUIRED]}),
             ({"client": someone, "zone": north}, {"zone": [MSG_CLIENT_NO_ZONE]})]
    for fields, errors in cases:
        with pytest.raises(ValidationError) as caught:
            meter_create(actor="test", serial="BZ-X", installed_on=date(2026, 1, 1), **fields)  # type: ignore[arg-type]
        assert caught.value.message_dict == errors
    assert not Meter.objects.filter(serial="BZ-X").exists()


# --- the API -----------------------------------------------------------------------------------
def test_the_meters_api_creates_a_bulk_meter_and_refuses_one_without_its_zone(tenant, alpha_api) -> None:  # type: ignore[no-untyped-def]
    north, someone = zone(), client_in(None, "BZ003")
    connection.set_schema_to_public()
    made = alpha_api.post("/api/v1/meters/", {"serial": "bz-10", "kind": "bulk", "zone": "bz-north",
                                              "installed_on": "2026-11-01", "initial_reading": "250.5"}, format="json")
    assert made.status_code == 201, made.content
    assert made.json() | {"id": 0} == {"id": 0, "serial": "BZ-10", "client": None, "kind": "bulk", "zone": "bz-north",
                                       "initial_reading": "250.500", "dial_capacity": "99999.999",
                                       "installed_on": "2026-11-01", "status": "active"}
    # The shape before bulk meters still makes a client meter.
    old = alpha_api.post("/api/v1/meters/", {"serial": "bz-11", "client": someone.pk, "installed_on": "2026-11-01"},
                         format="json")
    assert old.status_code == 201 and (old.json()["kind"], old.json()["zone"], old.json()["client"]) == (
        "client", None, someone.pk)
    refusals = [
        ({"serial": "bz-12", "kind": "bulk", "installed_on": "2026-11-01"}, {"zone": [MSG_ZONE_REQUIRED]}),
        ({"serial": "bz-12", "kind": "bulk", "zone": None, "installed_on": "2026-11-01"}, {"zone": [MSG_ZONE_REQUIRED]}),
        ({"serial": "bz-12", "installed_on": "2026-11-01"}, {"client": [MSG_CLIENT_REQUIRED]}),
        ({"serial": "bz-12", "kind": "client", "client": None, "installed_on": "2026-11-01"},
         {"client": [MSG_CLIENT_REQUIRED]}),
        ({"serial": "bz-12", "kind": "bulk", "zone": "bz-north", "client": someone.pk, "installed_on": "2026-11-01"},
         {"client": [MSG_BULK_NO_CLIENT]}),
        ({"serial": "bz-12", "client": someone.pk, "zone": "bz-north", "installed_on": "2026-11-01"},
         {"zone": [MSG_CLIENT_NO_ZONE]}),
        ({"serial": "bz-12", "kind": "bulk", "zone": "nowhere", "installed_on": "2026-11-01"},
         {"zone": ["No zone with code nowhere."]}),
        ({"serial": "bz-12", "kind": "district", "zone": "bz-north", "installed_on": "2026-11-01"},
         {"kind": ['"district" is not a valid choice.']}),
    ]
    for body, errors in refusals:
        response = alpha_api.post("/api/v1/meters/", body, format="json")
        assert (response.status_code, response.json()) == (400, errors), body
    bulk_only = alpha_api.get("/api/v1/meters/?kind=bulk").json()
    assert [(m["serial"], m["zone"], m["client"]) for m in bulk_only["results"]] == [("BZ-10", "bz-north", None)]
    with tenant_context(tenant):
        assert Meter.objects.filter(serial="BZ-12").count() == 0 and north.bulk_meters.count() == 1


def test_another_provider_never_sees_nor_reads_into_a_bulk_meter(tenant, beta_api) -> None:  # type: ignore[no-untyped-def]
    north = zone()
    meter = bulk(north)
    connection.set_schema_to_public()
    assert beta_api.get(f"/api/v1/meters/{meter.pk}/").status_code == 404
    assert "BZ-1" not in beta_api.get("/api/v1/meters/?kind=bulk").content.decode()
    # Alpha's zone code means nothing to beta.
    made = beta_api.post("/api/v1/meters/", {"serial": "BETA-B", "kind": "bulk", "zone": "bz-north",
                                             "installed_on": "2026-11-01"}, format="json")
    assert (made.status_code, made.json()) == (400, {"zone": ["No zone with code bz-north."]})
    reading = beta_api.post("/api/v1/readings/", {"meter": "BZ-1", "value": "1010", "read_at": "2026-11-02T09:00:00+03:00"},
                            format="json")
    assert reading.status_code == 400 and reading.json()["meter"] == [v.MSG_UNKNOWN_METER.format(serial="BZ-1")]
    with tenant_context(tenant):
        assert not Reading.objects.filter(meter=meter).exists()


# --- readings ----------------------------------------------------------------------------------
def test_a_bulk_meters_readings_are_checked_and_flagged_like_any_other(tenant, alpha_api) -> None:  # type: ignore[no-untyped-def]
    meter = bulk(zone(), capacity="9999.999")
    connection.set_schema_to_public()
    made = alpha_api.post("/api/v1/readings/", {"meter": "bz-1", "value": "1100", "read_at": "2026-09-30T12:00:00+03:00"},
                          format="json")
    assert made.status_code == 201 and (made.json()["consumption"], made.json()["status"]) == ("100.000", "accepted")
    with tenant_context(tenant):
        lower = record("BZ-1", "1050", nbo(2026, 10, 30))
        assert lower.errors[0]["errors"]["value"][0].startswith("1050.000 is lower than the previous reading (1100.000")
        assert record("BZ-1", "1000", nbo(2025, 12, 1)).errors[0]["errors"] == {
            "read_at": [v.MSG_BEFORE_INSTALL.format(installed="2026-01-01")]}
        # Half the dial in a month: flagged, waiting for review, as a client's would be.
        spike = record("BZ-1", "7100", nbo(2026, 10, 31)).created[0]
        assert (spike.consumption, spike.status) == (D("6000.000"), "flagged") and Reading.Flag.DIAL in spike.flags
        Meter.objects.filter(pk=meter.pk).update(status="inactive")
        assert record("BZ-1", "7200", nbo(2026, 11, 2)).errors[0]["errors"] == {
            "meter": [v.MSG_INACTIVE_METER.format(serial="BZ-1", status="inactive")]}


def test_a_csv_of_readings_takes_a_bulk_meter_by_its_serial(tenant) -> None:  # type: ignore[no-untyped-def]
    import io

    from meters.imports import readings_import

    north = zone()
    bulk(north, capacity="9999.999")
    meter_create(actor="test", serial="BZ-C", client=client_in(north, "BZ008"), installed_on=date(2026, 1, 1))
    csv = (b"meter,value,read_at\n"
           b"bz-1,1120.5,2026-10-05 09:00\n"  # 120.5 m3 into the zone
           b"BZ-C,12,2026-10-05 09:30\n"
           b"BZ-1,1100,2026-10-20 09:00\n"  # lower than before, no reason: refused as for any meter
           b"BZ-1,7200,2026-10-25 09:00\n")  # 6,079.5 m3: more than half the dial, flagged
    summary = readings_import(io.BytesIO(csv))
    assert (summary.created, summary.flagged, summary.error_count) == (3, 1, 1)
    assert summary.errors[0]["line"] == 4 and "lower than the previous reading" in summary.errors[0]["errors"]["value"][0]
    got = {(r.meter.serial, r.consumption, r.status) for r in Reading.objects.select_related("meter")}
    assert got == {("BZ-1", D("120.500"), "accepted"), ("BZ-C", D("12.000"), "accepted"),
                   ("BZ-1", D("6079.500"), "flagged")}


def test_a_bulk_meter_is_replaced_on_its_zone(tenant) -> None:  # type: ignore[no-untyped-def]
    north = zone()
    old = bulk(north, "BZ-OLD", initial="0")
    new = meter_replace(actor="test", meter=old, final_reading=D("55"), replaced_at=nbo(2026, 10, 20),
                        new_serial="bz-new")
    assert (new.kind, new.zone_id, new.client_id) == ("bulk", north.pk, None)
    assert Reading.objects.get(meter=old).consumption == D("55.000")


# --- system input --------------------------------------------------------------------------------
def test_system_input_is_each_zones_accepted_bulk_consumption_per_nairobi_month(tenant, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    north, market = zone(), zone("bz-market", "Market bulk zone")
    n1 = bulk(north, "BZ-N", initial="1000", capacity="9999.999")
    for value, at in (("1100", nbo(2026, 9, 30, 12)),  # September: 100
                      ("1180", nbo(2026, 10, 31, 23, 30)),  # 20:30 UTC on 31 Oct: October, 80
                      ("1185", nbo(2026, 11, 1, 0, 10)),  # 21:10 UTC on 31 Oct, but November in Nairobi: 5
                      ("1250", nbo(2026, 11, 20))):  # November: 65
        assert record("BZ-N", value, at).created[0].status == "accepted"
    flagged = record("BZ-N", "7300", nbo(2026, 11, 22)).created[0]  # 6,050 m³: flagged, not counted
    assert flagged.status == "flagged"
    rejected = record("BZ-N", "1260", nbo(2026, 11, 21))
    Reading.objects.filter(pk=rejected.created[0].id).update(status="rejected")  # 10 m³, not counted
    # The market zone's meter was replaced in October: both count, the old one's readings too.
    m1 = bulk(market, "BZ-M1", initial="0")
    record("BZ-M1", "40", nbo(2026, 10, 10))  # 40
    m2 = meter_replace(actor="test", meter=m1, final_reading=D("55"), replaced_at=nbo(2026, 10, 20),
                       new_serial="BZ-M2")  # 15
    record("BZ-M2", "30", nbo(2026, 11, 5))  # 30
    # A client meter in the zone is billed consumption, not system input.
    someone = client_in(north, "BZ004")
    client_meter = meter_create(actor="test", serial="BZ-C", client=someone, installed_on=date(2026, 1, 1))
    read(client_meter, "70", "2026-10-15")
    with django_assert_num_queries(1):
        got = system_input(["2026-10", "2026-11"])
    assert got == {(north.pk, "2026-10"): D("80.000"), (north.pk, "2026-11"): D("70.000"),
                   (market.pk, "2026-10"): D("55.000"), (market.pk, "2026-11"): D("30.000")}
    assert system_input(["2026-09"]) == {(north.pk, "2026-09"): D("100.000")}
    assert system_input(["2026-11", "2026-09"]) == {  # October, between them, was not asked for
        (north.pk, "2026-09"): D("100.000"), (north.pk, "2026-11"): D("70.000"), (market.pk, "2026-11"): D("30.000")}
    assert system_input(["2026-08"]) == {} and system_input([]) == {}
    Meter.objects.filter(pk=m2.pk).update(status="inactive")  # an inactive meter's past input still counts
    assert system_input(["2026-11"])[(market.pk, "2026-11")] == D("30.000")
    assert bulk_zones() == {north.pk: date(2026, 1, 1), market.pk: date(2026, 1, 1)}
    assert n1.zone_id == north.pk


# --- billing -------------------------------------------------------------------------------------
def test_a_billing_run_over_a_zone_with_a_bulk_meter_bills_only_its_clients(tenant) -> None:  # type: ignore[no-untyped-def]
    north = zone()
    meters = []
    for account in ("BZ101", "BZ102"):
        meters.append(meter_create(actor="test", serial=f"M-{account}", client=client_in(north, account),
                                   installed_on=date(2026, 1, 1)))
    read(meters[0], "0", "2026-08-31")
    read(meters[0], "12", "2026-09-29")
    read(meters[1], "0", "2026-08-31")
    read(meters[1], "25", "2026-09-29")
    big = bulk(north, initial="1000")
    record(big.serial, "1000", nbo(2026, 8, 31))
    record(big.serial, "1050", nbo(2026, 9, 29))
    portal = readings_record([{"meter": big.serial, "value": "1060", "read_at": nbo(2026, 9, 30)}], source="portal")
    assert portal.created[0].status == "flagged"  # a flagged bulk reading waiting: no client's
    run, _ = billing_run_start(period="2026-09")
    invoices = {i.client.account_number: i for i in Invoice.objects.filter(run=run).select_related("client")}
    # 12 m³: 10 x 40 + 2 x 55 + 100 fixed = 610.00; 25 m³: 10 x 40 + 15 x 55 + 100 = 1,325.00.
    assert sorted(invoices) == ["BZ101", "BZ102"]
    assert (invoices["BZ101"].consumption, invoices["BZ101"].total) == (D("12.000"), D("610.00"))
    assert (invoices["BZ102"].consumption, invoices["BZ102"].total) == (D("25.000"), D("1325.00"))
    assert lines_of(invoices["BZ101"]) == [("water", D("400.00")), ("water", D("110.00")), ("fixed", D("100.00"))]
    assert not InvoiceMeter.objects.filter(meter=big).exists()
    summary = BillingRun.objects.get(pk=run.pk).summary
    assert (summary["billed"], summary["consumption"], summary["total"]) == (2, "37.000", "1935.00")
    assert summary["skipped_count"] == 0 and summary["flagged_readings"] == 0


# --- the dashboard -------------------------------------------------------------------------------
def test_a_manager_adds_a_bulk_meter_for_a_zone(tenant) -> None:  # type: ignore[no-untyped-def]
    north = zone()
    amos = as_user("amos@alpha.test")
    form = amos.get(f"/dashboard/meters/new/?kind=bulk&zone={north.code}")
    assert form.status_code == 200
    body = form.content.decode()
    assert re.search(r'<option value="bulk" selected>', body) and re.search(rf'<option value="{north.code}" selected>', body)
    assert 'data-show-when="kind=bulk"' in body and 'data-show-when="kind=client"' in body
    base = {"serial": "bz-20", "installed_on": "2026-11-01", "initial_reading": "0", "dial_capacity": "99999.999"}
    missing = amos.post("/dashboard/meters/new/", {**base, "kind": "bulk", "zone": ""})
    assert missing.status_code == 400 and MSG_ZONE_REQUIRED in text(missing)
    no_client = amos.post("/dashboard/meters/new/", {**base, "kind": "client", "zone": north.code})
    assert no_client.status_code == 400 and MSG_CLIENT_REQUIRED in text(no_client)
    # A client typed before switching to "bulk" (the field then hidden) is not held against it.
    made = amos.post("/dashboard/meters/new/", {**base, "kind": "bulk", "zone": north.code, "client": "NOPE"})
    meter = Meter.objects.get(serial="BZ-20")
    assert made.status_code == 302 and made["Location"] == f"/dashboard/meters/{meter.pk}/"
    assert (meter.kind, meter.zone_id, meter.client_id) == ("bulk", north.pk, None)
    page = amos.get(made["Location"])
    assert page.status_code == 200 and "Bulk (zone) meter" in text(page) and north.name in text(page)
    assert amos.get(f"/dashboard/meters/{meter.pk}/replace/").status_code == 200
    assert amos.get(f"/dashboard/meters/{meter.pk}/reading/").status_code == 200


def test_the_meter_list_filters_by_kind_and_shows_a_bulk_meters_zone(tenant) -> None:  # type: ignore[no-untyped-def]
    north = zone()
    bulk(north)
    meter_create(actor="test", serial="BZ-C", client=client_in(north, "BZ005"), installed_on=date(2026, 1, 1))
    amos = as_user("amos@alpha.test")
    every = amos.get("/dashboard/meters/")
    assert every.status_code == 200 and "BZ-1" in text(every) and "BZ-C" in text(every)
    only_bulk = amos.get("/dashboard/meters/?kind=bulk")
    assert "BZ-1" in text(only_bulk) and "BZ-C" not in text(only_bulk) and "Bulk North bulk zone" in text(only_bulk)
    only_clients = amos.get("/dashboard/meters/?kind=client")
    assert "BZ-1" not in text(only_clients) and "BZ-C" in text(only_clients)


def test_the_route_sheet_and_the_round_include_a_zones_bulk_meter(tenant) -> None:  # type: ignore[no-untyped-def]
    north = zone()
    big = bulk(north)
    client_meter = meter_create(actor="test", serial="BZ-C", client=client_in(north, "BZ006"),
                                installed_on=date(2026, 1, 1))
    meter_create(actor="test", serial="BZ-NZ", client=client_in(None, "BZ007"), installed_on=date(2026, 1, 1))
    ari = as_user("ari@alpha.test")
    sheet = ari.get(f"/dashboard/readings/?zone={north.code}")
    assert re.findall(r'data-serial="([^"]+)"', sheet.content.decode()) == ["BZ-1", "BZ-C"]  # bulk first
    assert 'data-testid="sheet-bulk"' in sheet.content.decode()
    no_zone = ari.get("/dashboard/readings/?zone=*none")
    assert re.findall(r'data-serial="([^"]+)"', no_zone.content.decode()) == ["BZ-NZ"]
    saved = ari.post(f"/dashboard/readings/?zone={north.code}", {
        "opened_at": timezone.now().isoformat(), f"v-{big.pk}": "1400", f"v-{client_meter.pk}": "9"})
    assert saved.status_code == 302
    assert dict(Reading.objects.values_list("meter__serial", "consumption")) == {"BZ-1": D("400.000"),
                                                                                "BZ-C": D("9.000")}
    round_ = reading_round()
    assert [(z.code, z.meters, z.read) for z in round_.zones] == [("bz-north", 2, 2), ("", 1, 0)]


def test_the_review_queue_shows_a_flagged_bulk_reading(tenant) -> None:  # type: ignore[no-untyped-def]
    north = zone()
    big = bulk(north, capacity="9999.999")
    assert record(big.serial, "7000", nbo(2026, 11, 2)).created[0].status == "flagged"
    queue = as_user("amos@alpha.test").get("/dashboard/readings/review/")
    assert queue.status_code == 200 and "BZ-1" in text(queue) and "Bulk North bulk zone" in text(queue)
