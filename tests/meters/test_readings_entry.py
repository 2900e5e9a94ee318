"""Readings without zones and from a client's or a meter's page (issue 17): the route sheet offers
"All clients" and "No zone"; one reading is recorded from the client or meter page through the
same pipeline as every other reading, its errors shown on the form."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import tenant_context

from clients.models import Category, Client, Zone
from meters.models import Meter, Reading
from meters.services import meter_create
from meters.views.dashboard import ALL_CLIENTS, NO_ZONE
from tests.billing_helpers import D, read
from tests.conftest import host_of, login
from tests.payments.test_payments_collect import as_user

SHEET = "/dashboard/readings/"


def metered(account: str, zone: Zone | None = None, *, initial: str = "100") -> Meter:
    client = Client.objects.create(account_number=account, full_name=f"Client {account}", zone=zone,
                                   category=Category.objects.get(code="domestic"))
    return meter_create(actor="test", serial=f"M-{account}", client=client, installed_on=date(2026, 1, 1),
                        initial_reading=D(initial))


def text(response) -> str:  # type: ignore[no-untyped-def]
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode())))


def serials(response) -> list[str]:  # type: ignore[no-untyped-def]
    return re.findall(r'data-serial="([^"]+)"', response.content.decode())


def now_local() -> dict[str, str]:
    moment = timezone.localtime() - timedelta(minutes=1)
    return {"read_on": f"{moment:%Y-%m-%d}", "read_time": f"{moment:%H:%M}"}


# --- the route sheet ---------------------------------------------------------------------------
def test_a_provider_without_zones_reads_every_client_on_one_sheet(tenant) -> None:  # type: ignore[no-untyped-def]
    one, two = metered("NZ1"), metered("NZ2")
    ari = as_user("ari@alpha.test")
    page = ari.get(SHEET)
    assert page.status_code == 200 and serials(page) == ["M-NZ1", "M-NZ2"]
    body = page.content.decode()
    assert f'<option value="{NO_ZONE}"' in body and re.search(rf'<option value="\{ALL_CLIENTS}" selected>All clients', body)
    assert "No zones yet: every client is on this sheet." in text(page)
    saved = ari.post(SHEET, {"opened_at": timezone.now().isoformat(), f"v-{one.pk}": "112.5", f"v-{two.pk}": "104"})
    assert saved.status_code == 302 and saved["Location"] == f"{SHEET}?zone=%2Aall"
    got = dict(Reading.objects.values_list("meter__serial", "consumption"))
    assert got == {"M-NZ1": D("12.500"), "M-NZ2": D("4.000")}
    assert set(Reading.objects.values_list("source", "recorded_by__email")) == {("manual", "ari@alpha.test")}


def test_no_zone_lists_only_clients_without_one_and_all_clients_lists_everyone(tenant) -> None:  # type: ignore[no-untyped-def]
    east = Zone.objects.create(code="east", name="East")
    metered("Z1", east)
    metered("Z2")
    metered("Z3")
    closed = metered("Z4")
    Client.objects.filter(pk=closed.client_id).update(status=Client.Status.CLOSED)
    ari = as_user("ari@alpha.test")
    assert serials(ari.get(SHEET)) == ["M-Z1"]  # with zones, the sheet opens on the first one, as before
    assert serials(ari.get(SHEET, {"zone": "east"})) == ["M-Z1"]
    assert serials(ari.get(SHEET, {"zone": NO_ZONE})) == ["M-Z2", "M-Z3"]
    assert serials(ari.get(SHEET, {"zone": ALL_CLIENTS})) == ["M-Z1", "M-Z2", "M-Z3"]
    assert serials(ari.get(SHEET, {"zone": "no-such-zone"})) == ["M-Z1", "M-Z2", "M-Z3"]
    page = ari.get(SHEET, {"zone": NO_ZONE})
    assert re.search(rf'<option value="\{NO_ZONE}" selected>No zone', page.content.decode())


def test_a_reading_saved_on_the_no_zone_sheet_comes_back_to_it(tenant) -> None:  # type: ignore[no-untyped-def]
    Zone.objects.create(code="east", name="East")
    meter = metered("NZ9")
    ari = as_user("ari@alpha.test")
    url = f"{SHEET}?zone=%2Anone"
    bad = ari.post(url, {"opened_at": timezone.now().isoformat(), f"v-{meter.pk}": "90"})
    assert bad.status_code == 200 and "90.000 is lower than the previous reading" in text(bad)
    assert serials(bad) == ["M-NZ9"] and not Reading.objects.exists()
    fixed = ari.post(url, {"opened_at": timezone.now().isoformat(), f"v-{meter.pk}": "130"})
    assert fixed.status_code == 302 and fixed["Location"] == url


def test_a_long_route_comes_in_pages_and_saving_stays_on_the_page(tenant, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("meters.views.dashboard.SHEET_PAGE", 2)
    meters = [metered(f"PG{i}") for i in range(3)]
    ari = as_user("ari@alpha.test")
    assert serials(ari.get(SHEET)) == ["M-PG0", "M-PG1"]
    second = ari.get(SHEET, {"zone": ALL_CLIENTS, "page": "2"})
    assert serials(second) == ["M-PG2"] and "3–3 of 3" in text(second)
    saved = ari.post(f"{SHEET}?zone=%2Aall&page=2", {"opened_at": timezone.now().isoformat(),
                                                     f"v-{meters[2].pk}": "101", f"v-{meters[0].pk}": "109"})
    assert saved.status_code == 302 and saved["Location"] == f"{SHEET}?zone=%2Aall&page=2"
    assert list(Reading.objects.values_list("meter__serial", flat=True)) == ["M-PG2"]  # only this page's meters


def test_the_sheet_costs_the_same_queries_for_3_or_30_meters(tenant) -> None:  # type: ignore[no-untyped-def]
    ari = as_user("ari@alpha.test")
    for i in range(3):
        metered(f"QA{i:02d}")
    ari.get(SHEET)
    with CaptureQueriesContext(connection) as few:
        assert len(serials(ari.get(SHEET, {"zone": NO_ZONE}))) == 3
    for i in range(3, 30):
        metered(f"QA{i:02d}")
    with CaptureQueriesContext(connection) as many:
        assert len(serials(ari.get(SHEET, {"zone": NO_ZONE}))) == 30
    assert len(few) == len(many)


# --- from the client's and the meter's page ----------------------------------------------------
def test_a_meter_reader_records_a_reading_from_the_client_page(tenant) -> None:  # type: ignore[no-untyped-def]
    meter = metered("CP1")
    ari = as_user("ari@alpha.test")
    page = ari.get(f"/dashboard/clients/{meter.client_id}/")
    assert page.status_code == 200
    body = page.content.decode()
    opened = re.search(r'name="opened_at" value="([^"]+)"', body).group(1)
    assert f'action="/dashboard/meters/{meter.pk}/reading/"' in body and 'data-testid="reading-form-M-CP1"' in body
    assert "Reading for meter M-CP1" in text(page)
    saved = ari.post(f"/dashboard/meters/{meter.pk}/reading/",
                     {"back": "client", "value": "123.456", **now_local(), "reason": "", "note": "gate locked"})
    assert saved.status_code == 302 and saved["Location"] == f"/dashboard/clients/{meter.client_id}/"
    reading = Reading.objects.get()
    assert (reading.meter_id, reading.value, reading.consumption, reading.source, reading.note,
            reading.recorded_by.email) == (meter.pk, D("123.456"), D("23.456"), "manual", "gate locked",
                                          "ari@alpha.test")
    back = ari.get(saved["Location"])
    assert "Reading 123.456 m³ saved for meter M-CP1: 23.456 m³ used." in text(back)
    # The form as it opened (its time left alone), sent twice (a double tap): one reading, at
    # the moment the form opened, and the reader is told.
    moment = timezone.localtime(datetime.fromisoformat(opened))
    fields = {"back": "client", "value": "130", "opened_at": opened, "read_on": f"{moment:%Y-%m-%d}",
              "read_time": f"{moment:%H:%M}"}
    first = ari.post(f"/dashboard/meters/{meter.pk}/reading/", fields)
    again = ari.post(f"/dashboard/meters/{meter.pk}/reading/", fields)
    assert first.status_code == again.status_code == 302 and Reading.objects.count() == 2
    assert Reading.objects.filter(value=D("130")).get().read_at == datetime.fromisoformat(opened)
    assert "was already saved" in text(ari.get(again["Location"]))


def test_a_reading_is_recorded_from_the_meter_page(tenant) -> None:  # type: ignore[no-untyped-def]
    meter = metered("MP1")
    read(meter, "150", "2026-11-01")
    amos = as_user("amos@alpha.test")
    page = amos.get(f"/dashboard/meters/{meter.pk}/")
    assert page.status_code == 200 and 'data-testid="record-reading"' in page.content.decode()
    assert "150.000" in text(page) and "Client MP1" in text(page)
    saved = amos.post(f"/dashboard/meters/{meter.pk}/reading/",
                      {"back": "meter", "value": "161", **now_local()})
    assert saved.status_code == 302 and saved["Location"] == f"/dashboard/meters/{meter.pk}/"
    assert "11.000 m³ used" in text(amos.get(saved["Location"]))
    assert meter.readings.count() == 2
    listed = amos.get("/dashboard/meters/")
    assert f'href="/dashboard/meters/{meter.pk}/"' in listed.content.decode()


def test_a_reading_below_the_previous_one_comes_back_with_the_error(tenant) -> None:  # type: ignore[no-untyped-def]
    meter = metered("BP1")
    read(meter, "500", "2026-11-01")
    ari = as_user("ari@alpha.test")
    when = now_local()
    refused = ari.post(f"/dashboard/meters/{meter.pk}/reading/",
                       {"back": "client", "value": "20", **when, "note": "new dial?"})
    assert refused.status_code == 400
    body = text(refused)
    assert "20.000 is lower than the previous reading (500.000 on 01 Nov 2026 09:00)" in body
    assert "Nothing was saved" in body
    html = refused.content.decode()
    assert 'value="20"' in html and f'value="{when["read_on"]}"' in html and f'value="{when["read_time"]}"' in html
    assert 'value="new dial?"' in html
    assert 'name="back" value="client"' in html and meter.readings.count() == 1
    # With the reason, the same value is a dial that went round.
    Meter.objects.filter(pk=meter.pk).update(dial_capacity=D("999.999"))
    saved = ari.post(f"/dashboard/meters/{meter.pk}/reading/",
                     {"back": "client", "value": "20", **when, "reason": "rollover"})
    assert saved.status_code == 302
    assert meter.readings.order_by("-read_at").first().consumption == D("520.000")
    for fields, name, message in (({"value": "abc"}, "value", "Enter the meter's value as a number of m³"),
                                  ({"value": "1", "read_on": "2099-01-01"}, "read_at", "dated in the future"),
                                  ({"value": "1", "read_on": "2026-02-30"}, "read_at", "Enter the reading time as a date"),
                                  ({"value": "1", "read_on": ""}, "read_at", "Give the date of the reading."),
                                  ({"value": "1", "reason": "magic"}, "reason", "Reason must be empty")):
        bad = ari.post(f"/dashboard/meters/{meter.pk}/reading/", {**when, **fields})
        assert bad.status_code == 400 and message in text(bad), (name, text(bad)[:1500])


def test_an_accountant_cannot_record_readings(tenant) -> None:  # type: ignore[no-untyped-def]
    meter = metered("AC1")
    anne = as_user("anne@alpha.test")
    assert anne.get(f"/dashboard/meters/{meter.pk}/reading/").status_code == 403
    assert anne.post(f"/dashboard/meters/{meter.pk}/reading/", {"value": "120", **now_local()}).status_code == 403
    with tenant_context(tenant):
        assert not Reading.objects.exists()
    for url in (f"/dashboard/clients/{meter.client_id}/", f"/dashboard/meters/{meter.pk}/"):
        page = anne.get(url)
        assert page.status_code == 200 and 'data-testid="record-reading"' not in page.content.decode()
        assert "/reading/" not in page.content.decode()
    assert as_user("ari@alpha.test").get(f"/dashboard/meters/{meter.pk}/reading/").status_code == 200


@pytest.mark.parametrize("path", ["/dashboard/meters/{pk}/", "/dashboard/meters/{pk}/reading/"])
def test_another_provider_cannot_see_or_read_alphas_meter(tenant, path) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client as Http

    meter = metered("XT1")
    bob = Http(HTTP_HOST=host_of("beta"))
    login(bob, "bob@beta.test")
    assert bob.get(path.format(pk=meter.pk)).status_code == 404
    if path.endswith("reading/"):
        assert bob.post(path.format(pk=meter.pk), {"value": "150", **now_local()}).status_code == 404
    with tenant_context(tenant):
        assert not Reading.objects.exists()
