"""The regulator pack, with every indicator computed by hand.

The story (alpha, domestic tariff: up to 10 m³ @ 40, up to 30 @ 55, fixed charge 100), seen on
10 Dec 2026:
- Ann (zone North) and Ben, metered since 1 Nov 2025. Readings 30 Nov 2025 "0", 31 Dec 2025 Ann "10"
  Ben "15", 31 Jan 2026 Ann "15" Ben "35". December 2025 billed on 2 Jan 2026: Ann 10 m³ = 500.00,
  Ben 15 m³ = 400 + 275 + 100 = 775.00 (1,275.00, 25 m³: a 2025 period though billed in 2026).
  January 2026 billed on 2 Feb: Ann 5 m³ = 300.00, Ben 20 m³ = 400 + 550 + 100 = 1,050.00 (1,350.00,
  25 m³).
- Payments: Ann 500.00 on 31 Dec 2025 23:30 Nairobi (2025); Ben 775.00 on 1 Jan 2026 00:30 Nairobi
  (31 Dec 21:30 UTC: 2026 in Nairobi); Ann 300.00 on 10 Feb 2026; 250.00 matching nobody on 5 Mar 2026.
  Collection efficiency 2026: (775 + 300 + 250) / 1,350 = 1,325 / 1,350 = 0.9815 → 98.2% (rounded half to even, as as_percent does);
  2025: 500 / 1,275 = 0.3922 → 39.2%.
- Owed today: Ann 800 − 800 = 0, Ben 1,825 − 775 = 1,050.00.
- Connections: Ann, Ben (active, metered), Fay (active, her meter inactive), Cid (disconnected, metered),
  Eve (closed). Active 3, total (active + disconnected) 4: 75.0%; metering ratio 2 / 3 = 66.7%.
- Staff: Alice, Amos, Anne, Ari active; a deactivated manager is not counted: 4 × 1,000 / 3 active
  connections = 1,333.33.
- Service requests (leak: due 24 h after, billing question: 72 h), resolved in 2026 (Nairobi):
  R1 leak 1 Mar 08:00 → 1 Mar 20:00 (0.5 days, on time); R2 billing 1 Apr 08:00 → 3 Apr 08:00
  (2 days, on time); R3 leak 1 May 08:00 → 5 May 08:00 (4 days, late); R4 leak 31 Dec 2025 00:30 →
  1 Jan 2026 00:30 (1 day, exactly at its due time: on time; resolved in 2026 in Nairobi though
  31 Dec UTC). Median of 0.5, 1, 2, 4 = 1.5 days; average 7.5 / 4 = 1.875 → 1.9; on time 3 of 4 =
  75.0%. R5 leak 31 Dec 2025 11:00 → 23:00 (2025: 0.5 days, on time); R6 cancelled and R7 still open
  are not counted.
- Non-revenue water: no bulk meters, not measured. With a system input handed in (reports.nrw):
  North 20 m³ in January 2026 against Ann's 5 billed, no zone 25 against Ben's 20: NRW 15 + 5 = 20 m³
  of 45 = 44.4%.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import time_machine
from django.db import connection
from django.test import Client as Http
from django_tenants.utils import tenant_context

from accounts.models import User
from billing.runs import billing_run_finalize, billing_run_start
from clients.models import Client, Zone
from fieldwork.models import ServiceRequest
from fieldwork.services import (
    service_request_cancel,
    service_request_create,
    service_request_resolve,
)
from meters.models import Meter
from payments.services import payment_record
from reports.figures import figures_fresh
from reports.nrw import nrw_for
from reports.regulator import regulator_pack
from tests.billing_helpers import metered, read, travel
from tests.conftest import PASSWORD, host_of, login

NBO = ZoneInfo("Africa/Nairobi")
D = Decimal
TODAY = "2026-12-10"
URL = "/dashboard/reports/regulator/"
PERIODS_2026 = [f"2026-{m:02d}" for m in range(1, 13)]


def as_(email: str, slug: str = "alpha") -> Http:
    http = Http(HTTP_HOST=host_of(slug))
    assert login(http, email).status_code == 302
    return http


def nbo(day: str, hour: int, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=NBO)


def paid(client: Client | None, amount: str, when: datetime, receipt: str) -> None:
    payment_record(method="mpesa", receipt=receipt, amount=D(amount), paid_at=when, client=client,
                   account_reference=client.account_number if client else "NOSUCH")


def request(client: Client, kind: str, opened: datetime, closed: datetime | None, *, cancel: bool = False) -> None:
    with time_machine.travel(opened, tick=False):
        r = service_request_create(client=client, kind=kind, description="Water everywhere", actor="test",
                                   channel=ServiceRequest.Channel.PHONE)
    if closed is not None:
        with time_machine.travel(closed, tick=False):
            if cancel:
                service_request_cancel(request=r, reason="asked twice", actor="test")
            else:
                service_request_resolve(request=r, resolution="Fixed", actor="test")


@pytest.fixture
def story(tenant):  # type: ignore[no-untyped-def]
    north = Zone.objects.create(code="north", name="North")
    ann, ann_meter = metered("Ann Atieno", installed=date(2025, 11, 1))
    ben, ben_meter = metered("Ben Barasa", installed=date(2025, 11, 1))
    ann.zone = north
    ann.save(update_fields=["zone"])
    for meter, values in ((ann_meter, ("0", "10", "15")), (ben_meter, ("0", "15", "35"))):
        for value, day in zip(values, ("2025-11-30", "2025-12-31", "2026-01-31"), strict=True):
            read(meter, value, day)
    for period, day in (("2025-12", "2026-01-02"), ("2026-01", "2026-02-02")):
        with travel(day):
            billing_run_finalize(run=billing_run_start(period=period)[0])
    with travel(TODAY):
        paid(ann, "500.00", nbo("2025-12-31", 23, 30), "ANN0001")
        paid(ben, "775.00", nbo("2026-01-01", 0, 30), "BEN0001")
        paid(ann, "300.00", nbo("2026-02-10", 12), "ANN0002")
        paid(None, "250.00", nbo("2026-03-05", 9), "LOST0001")
        fay, fay_meter = metered("Fay Fundi")
        Meter.objects.filter(pk=fay_meter.pk).update(status=Meter.Status.INACTIVE)
        cid, _ = metered("Cid Chege")
        Client.objects.filter(pk=cid.pk).update(status=Client.Status.DISCONNECTED)
        eve, _ = metered("Eve Ekai")
        Client.objects.filter(pk=eve.pk).update(status=Client.Status.CLOSED)
        User.objects.create_user("old@alpha.test", PASSWORD, full_name="Old Manager", role="manager", is_active=False)
    leak, billing = ServiceRequest.Kind.LEAK, ServiceRequest.Kind.BILLING
    request(ann, leak, nbo("2026-03-01", 8), nbo("2026-03-01", 20))
    request(ann, billing, nbo("2026-04-01", 8), nbo("2026-04-03", 8))
    request(ben, leak, nbo("2026-05-01", 8), nbo("2026-05-05", 8))
    request(ben, leak, nbo("2025-12-31", 0, 30), nbo("2026-01-01", 0, 30))
    request(ann, leak, nbo("2025-12-31", 11), nbo("2025-12-31", 23))
    request(ann, leak, nbo("2026-06-01", 8), nbo("2026-06-02", 8), cancel=True)
    request(ben, leak, nbo("2026-11-01", 8), None)
    with travel(TODAY):
        yield {"ann": ann, "ben": ben, "north": north}


EXPECTED_2026 = {
    "collection_efficiency": D("98.2"), "nrw": None, "billed": D("1350.00"), "collected": D("1325.00"),
    "billed_volume": D("25.000"), "arrears": D("1050.00"), "metering_ratio": D("66.7"), "active_connections": 3,
    "total_connections": 4, "active_share": D("75.0"), "requests_resolved": 4, "resolution_median": D("1.5"),
    "resolution_average": D("1.9"), "resolved_on_time": D("75.0"), "staff_per_1000": D("1333.33")}


def test_every_indicator_is_the_hand_computed_one(story) -> None:  # type: ignore[no-untyped-def]
    figures_fresh()
    pack = regulator_pack(2026, today=date(2026, 12, 10))
    assert {i.key: i.value for i in pack.indicators} == EXPECTED_2026
    assert [i.key for i in pack.indicators][:2] == ["collection_efficiency", "nrw"]
    assert pack["nrw"].missing == "not measured (no bulk meters)" and pack["arrears"].name == "Arrears today"
    last = regulator_pack(2025, today=date(2026, 12, 10))
    assert {k: last[k].value for k in ("collection_efficiency", "billed", "collected", "billed_volume", "arrears",
                                        "requests_resolved", "resolution_median", "resolution_average",
                                        "resolved_on_time")} == {
        "collection_efficiency": D("39.2"), "billed": D("1275.00"), "collected": D("500.00"),
        "billed_volume": D("25.000"), "arrears": None, "requests_resolved": 1, "resolution_median": D("0.5"),
        "resolution_average": D("0.5"), "resolved_on_time": D("100.0")}
    assert last["arrears"].name == "Arrears at year end" and last["arrears"].missing == "not kept for a past year"


def test_nrw_from_a_system_input(story) -> None:  # type: ignore[no-untyped-def]
    figures_fresh()
    north = story["north"].pk
    assert nrw_for(PERIODS_2026, {}) is None
    assert nrw_for(PERIODS_2026, {(north, "2025-12"): D("99.000")}) is None  # another year's input only
    nrw = nrw_for(PERIODS_2026, {(north, "2026-01"): D("20.000"), (None, "2026-01"): D("25.000"),
                                 (north, "2025-12"): D("12.000")})
    assert nrw is not None
    assert [(z.zone_id, z.system_input, z.billed, z.nrw, z.percent) for z in nrw.zones] == [
        (north, D("20.000"), D("5.000"), D("15.000"), D("75.0")), (None, D("25.000"), D("20.000"), D("5.000"), D("20.0"))]
    assert (nrw.system_input, nrw.billed, nrw.nrw, nrw.percent) == (D("45.000"), D("25.000"), D("20.000"), D("44.4"))
    pack = regulator_pack(2026, today=date(2026, 12, 10), system_input={(north, "2026-01"): D("20.000"),
                                                                         (None, "2026-01"): D("25.000")})
    assert pack["nrw"].value == D("44.4") and pack["nrw"].note == "20.000 m³ of 45.000 m³"


def _rows(html: str) -> list[list[str]]:
    body = html[html.index('data-testid="regulator-table"'):]
    body = body[body.index("<tbody>"):body.index("</tbody>")]
    return [[unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def _plain(value: str) -> str:
    return value.removeprefix("KES ").replace(",", "")


def test_the_page_and_its_exports_agree(story) -> None:  # type: ignore[no-untyped-def]
    http = as_("anne@alpha.test")
    html = http.get(URL).content.decode()
    assert "Regulator pack · 2026" in html
    rows = _rows(html)
    values = {r[0]: r[1] for r in rows}
    assert values["Collection efficiency"] == "98.2" and values["Revenue billed"] == "KES 1,350.00"
    assert values["Non-revenue water"] == "not measured (no bulk meters)" and values["Arrears today"] == "KES 1,050.00"
    assert values["Staff per 1,000 connections"] == "1333.33" and values["Complaint resolution time (median)"] == "1.5"
    assert len(rows) == len(EXPECTED_2026) and all(len(r) == 5 for r in rows)
    parsed = list(csv.reader(io.StringIO(b"".join(http.get(URL + "?export=csv").streaming_content)  # type: ignore[attr-defined]
                                         .decode("utf-8-sig"))))
    assert parsed[0] == ["Indicator", "Value", "Unit", "How computed", "Note"]
    assert parsed[1:] == [[r[0], _plain(r[1]), *r[2:]] for r in rows]
    book = openpyxl.load_workbook(io.BytesIO(b"".join(http.get(URL + "?export=xlsx").streaming_content)))  # type: ignore[attr-defined]
    sheet = [list(r) for r in book.active.iter_rows(min_row=2, values_only=True)]  # type: ignore[union-attr]
    assert [r[0] for r in sheet] == [r[0] for r in rows]
    for got, shown in zip(sheet, rows, strict=True):
        expected = _plain(shown[1])
        assert (got[1] == float(expected)) if re.fullmatch(r"[\d.]+", expected) else got[1] == expected, (got, shown)
        assert [c or "" for c in got[2:]] == shown[2:]
    last = http.get(URL + "?year=2025").content.decode()
    assert "Regulator pack · 2025" in last and {r[0]: r[1] for r in _rows(last)}["Collection efficiency"] == "39.2"
    assert "Regulator pack · 2026" in http.get(URL + "?year=1999").content.decode()  # out of range: this year


@pytest.mark.parametrize(("persona", "status"), [("alice@alpha.test", 200), ("amos@alpha.test", 200),
                                                 ("anne@alpha.test", 200), ("ari@alpha.test", 403),
                                                 ("carol@alpha.test", 403)])
def test_only_owner_manager_and_accountant_see_it(story, persona: str, status: int) -> None:  # type: ignore[no-untyped-def]
    http = Http(HTTP_HOST=host_of("alpha"))
    login(http, persona)
    assert http.get(URL).status_code == status
    assert http.get(URL + "?export=xlsx").status_code == status


def test_beta_never_sees_alphas_indicators(story, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(beta):
        figures_fresh()
        pack = regulator_pack(2026, today=date(2026, 12, 10))
        assert (pack["billed"].value, pack["active_connections"].value, pack["requests_resolved"].value,
                pack["collection_efficiency"].value) == (D("0.00"), 0, 0, None)
        assert pack["staff_per_1000"].value is None  # bob, but no connection
    connection.set_schema_to_public()
    bob = {r[0]: r[1] for r in _rows(as_("bob@beta.test", "beta").get(URL).content.decode())}
    assert bob["Revenue billed"] == "KES 0.00" and bob["Active connections"] == "0" and bob["Collection efficiency"] == "—"


def test_the_page_has_a_pinned_query_count(story, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    http = as_("anne@alpha.test")
    http.get(URL)  # warm: the figures, the settings rows, the session
    with django_assert_num_queries(14):  # the bulk meters' input kept (reports.nrw.kept_input) among them
        assert http.get(URL).status_code == 200
