"""Non-revenue water, by hand, on the home's story (tests/web/test_home.py) with a bulk meter on
zone North (Ann's; Ben has no zone):
- the bulk meter starts at 1,000 m³; read 1,014 on 30 Sep (14 m³ in September) and 1,039 at 23:30
  Nairobi on 31 Oct (20:30 UTC: still October: 25 m³), 1,041 at 00:10 Nairobi on 1 Nov (2 m³ in
  November, a month not billed);
- North's billed consumption: Ann's September 10 m³, October 18 m³;
- NRW: September 14 − 10 = 4 m³ = 28.6% of the input; October 25 − 18 = 7 m³ = 28.0%; November: 2 m³
  in, nothing billed yet: 2 m³, 100.0%. Zone South has no bulk meter: not measured (not 0)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from clients.models import Zone
from meters.models import Meter
from meters.services import meter_create, readings_record
from reports.figures import figures_fresh
from reports.nrw import kept_input, nrw_for
from reports.regulator import regulator_pack
from tests.billing_helpers import travel
from tests.web.test_home import TODAY, as_

NBO = ZoneInfo("Africa/Nairobi")
D = Decimal
URL = "/dashboard/reports/nrw/"


@pytest.fixture
def measured(story):  # type: ignore[no-untyped-def]
    north = Zone.objects.get(code="north")
    Zone.objects.create(code="south", name="South")
    meter_create(actor="test", serial="BULK-N", kind=Meter.Kind.BULK, zone=north, installed_on=date(2026, 1, 1),
                 initial_reading=D("1000"), dial_capacity=D("99999.999"))
    for value, at in (("1014", datetime(2026, 9, 30, 9, tzinfo=NBO)), ("1039", datetime(2026, 10, 31, 23, 30, tzinfo=NBO)),
                      ("1041", datetime(2026, 11, 1, 0, 10, tzinfo=NBO))):
        assert readings_record([{"meter": "BULK-N", "value": value, "read_at": at.isoformat()}],
                               source="api").errors == []
    with travel(TODAY):
        figures_fresh()
        yield north


def test_nrw_per_zone_and_period_is_the_hand_computed_one(measured) -> None:  # type: ignore[no-untyped-def]
    north = measured.pk
    assert kept_input(["2026-09", "2026-10", "2026-11"]) == {(north, "2026-09"): D("14.000"),
                                                           (north, "2026-10"): D("25.000"),
                                                           (north, "2026-11"): D("2.000")}
    figures = {p: nrw_for([p], kept_input([p])) for p in ("2026-09", "2026-10", "2026-11")}
    assert [(f.system_input, f.billed, f.nrw, f.percent) for f in figures.values()] == [  # type: ignore[union-attr]
        (D("14.000"), D("10.000"), D("4.000"), D("28.6")), (D("25.000"), D("18.000"), D("7.000"), D("28.0")),
        (D("2.000"), D("0.000"), D("2.000"), D("100.0"))]
    both = nrw_for(["2026-09", "2026-10"], kept_input(["2026-09", "2026-10"]))
    assert both and (both.nrw, both.percent) == (D("11.000"), D("28.2"))  # 11 of 39 m³
    assert nrw_for(["2026-08"], kept_input(["2026-08"])) is None  # nothing measured then


def test_the_page_and_its_downloads(measured) -> None:  # type: ignore[no-untyped-def]
    http = as_("anne@alpha.test")
    with travel(TODAY):
        html = http.get(URL, {"period": "2026-10"}).content.decode()
        rows = list(csv.reader(io.StringIO(http.get(URL, {"export": "csv"}).getvalue().decode("utf-8-sig"))))
        book = openpyxl.load_workbook(io.BytesIO(http.get(URL, {"export": "xlsx"}).getvalue()))
    assert 'data-testid="nrw-percent-2026-10">28.0%<' in html and 'data-testid="nrw-percent-2026-09">28.6%<' in html
    assert "By zone · October 2026" in html and '<td data-label="Month">Oct 2026</td>' in html and 'data-testid="nrw-unmeasured"' in html and "South" in html
    assert '<option value="2026-10" selected>October 2026</option>' in html  # months as people say them
    assert "money-chart" in html  # the chart of input and billed, with its table
    assert rows[0] == ["Period", "Zone", "System input (m³)", "Billed consumption (m³)", "Non-revenue water (m³)",
                       "NRW (% of input)"]
    assert ["2026-10", "North", "25.000", "18.000", "7.000", "28.0"] in rows
    assert ["2026-10", "All zones measured", "25.000", "18.000", "7.000", "28.0"] in rows
    sheet = [[c for c in row] for row in book["By zone"].iter_rows(values_only=True)]
    assert sheet[0] == rows[0] and len(sheet) == len(rows)
    assert ["2026-10", "North", 25.0, 18.0, 7.0, 28.0] in [list(r) for r in sheet]


def test_the_regulator_pack_reads_the_same_nrw(measured) -> None:  # type: ignore[no-untyped-def]
    with travel(TODAY):
        pack = regulator_pack(2026)
    nrw = next(i for i in pack.indicators if i.key == "nrw")
    # 2026: 14 + 25 + 2 = 41 m³ in, 28 billed: 13 m³, 31.7%.
    assert nrw.value == D("31.7"), nrw


def test_without_bulk_meters_the_page_says_how_to_measure(story) -> None:  # type: ignore[no-untyped-def]
    with travel(TODAY):
        html = as_("alice@alpha.test").get(URL).content.decode()
    assert 'data-testid="nrw-empty"' in html and "/dashboard/meters/new/?kind=bulk" in html
    with travel(TODAY):
        html = as_("anne@alpha.test").get(URL).content.decode()  # the accountant adds no meters: no link
    assert 'data-testid="nrw-empty"' in html and "/dashboard/meters/new/" not in html


@pytest.mark.parametrize(("persona", "status"), [("alice@alpha.test", 200), ("amos@alpha.test", 200),
                                                 ("anne@alpha.test", 200), ("ari@alpha.test", 403),
                                                 ("carol@alpha.test", 403)])
def test_roles(measured, persona: str, status: int) -> None:  # type: ignore[no-untyped-def]
    assert as_(persona).get(URL).status_code == status


def test_beta_never_sees_alphas_water(measured, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(beta):
        figures_fresh()
    connection.set_schema_to_public()
    html = as_("bob@beta.test", "beta").get(URL).content.decode()
    assert 'data-testid="nrw-empty"' in html and "North" not in html and "25.000" not in html


def test_a_pinned_query_count(measured, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    http = as_("anne@alpha.test")
    http.get(URL)
    # session, user, freshness, zones, input, billed (one query for every month), the shell's own.
    with django_assert_num_queries(9):
        assert http.get(URL).status_code == 200
