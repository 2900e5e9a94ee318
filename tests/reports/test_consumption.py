"""Consumption by zone and category per month, top consumers and zero-consumption meters, by hand.

The story (alpha on 23 Nov 2026; domestic and commercial tariffs; every meter read 0 on 31 Aug):
- Ann (domestic, North): 10 on 30 Sep, 28 on 31 Oct, 28.2 on 1 Nov 00:30 Nairobi (31 Oct 21:30
  UTC: November in Nairobi) → Sep 10, Oct 18, Nov 0.2 m³;
- Ben (domestic, no zone): 5 on 30 Sep, 5 on 31 Oct → Sep 5, Oct 0 (a zero-consumption meter);
- Cai (commercial, South): 40 on 30 Sep, 65 on 31 Oct 23:30 Nairobi (20:30 UTC: still
  October) → Sep 40, Oct 25 m³.
August: 3 meters read, all 0 m³. September 55 m³, October 43 m³ (Ben's meter the one zero),
November 0.2 m³. By zone: North 28.2, South 65, no zone 5 (98.2 m³); by category: commercial
65, domestic 33.2. Billed October (2 Nov): top consumers Cai 25, Ann 18 (Ben's 0 m³ bill is not a
consumer).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.db import connection
from django.test import Client as Http
from django_tenants.utils import tenant_context

from billing.runs import billing_run_finalize, billing_run_start
from clients.models import Category, Zone
from meters.services import readings_record
from reports.consumption import meters_read, top_consumers, usage, zero_meters
from reports.figures import figures_fresh
from reports.views.common import recent_periods
from tests.billing_helpers import domestic_tariff, metered, read, travel
from tests.conftest import host_of, login

NBO = ZoneInfo("Africa/Nairobi")
D = Decimal
URL = "/dashboard/reports/consumption/"


def as_(email: str, slug: str = "alpha") -> Http:
    http = Http(HTTP_HOST=host_of(slug))
    assert login(http, email).status_code == 302
    return http


def at(meter, value: str, when: datetime) -> None:  # type: ignore[no-untyped-def]
    assert readings_record([{"meter": meter.serial, "value": value, "read_at": when}], source="api").errors == []


@pytest.fixture
def story(tenant):  # type: ignore[no-untyped-def]
    domestic_tariff(code="com", name="Commercial", category=Category.objects.get(code="commercial"))
    north, south = Zone.objects.create(code="north", name="North"), Zone.objects.create(code="south", name="South")
    ann, ann_m = metered("Ann Atieno")
    ben, ben_m = metered("Ben Barasa")
    cai, cai_m = metered("Cai Chege", category="commercial")
    ann.zone, cai.zone = north, south
    ann.save(update_fields=["zone"])
    cai.save(update_fields=["zone"])
    for meter, sep in ((ann_m, "10"), (ben_m, "5"), (cai_m, "40")):
        read(meter, "0", "2026-08-31")
        read(meter, sep, "2026-09-30")
    read(ann_m, "28", "2026-10-31")
    read(ben_m, "5", "2026-10-31")
    at(cai_m, "65", datetime(2026, 10, 31, 23, 30, tzinfo=NBO))
    for period, day in (("2026-09", "2026-10-02"), ("2026-10", "2026-11-02")):
        with travel(day):
            billing_run_finalize(run=billing_run_start(period=period)[0])
    at(ann_m, "28.2", datetime(2026, 11, 1, 0, 30, tzinfo=NBO))
    figures_fresh()
    return {"ann": ann, "ben": ben, "cai": cai, "ben_meter": ben_m, "north": north, "south": south}


def test_consumption_by_month_zone_and_category(story) -> None:  # type: ignore[no-untyped-def]
    u = usage(recent_periods(12))
    assert u.periods[0] == "2025-12" and u.periods[-1] == "2026-11"
    assert dict(zip(u.periods[-4:], u.totals[-4:], strict=True)) == {
        "2026-08": D("0.000"), "2026-09": D("55.000"), "2026-10": D("43.000"), "2026-11": D("0.200")}
    assert u.total == D("98.200")
    assert [(z.name, z.months[-4:], z.total) for z in u.by_zone] == [
        ("North", [D(0), D(10), D(18), D("0.2")], D("28.2")), ("South", [D(0), D(40), D(25), D(0)], D(65)),
        ("No zone", [D(0), D(5), D(0), D(0)], D(5))]
    assert [(c.name, c.total) for c in u.by_category] == [("Commercial", D(65)), ("Domestic", D("33.2"))]
    assert (meters_read("2026-08").read, meters_read("2026-08").zero) == (3, 3)
    assert (meters_read("2026-10").read, meters_read("2026-10").zero) == (3, 1)
    assert (meters_read("2026-11").read, meters_read("2026-11").zero) == (1, 0)


def test_top_consumers_and_zero_meters_of_a_period(story) -> None:  # type: ignore[no-untyped-def]
    assert [(t.rank, t.client.full_name, t.consumption) for t in top_consumers("2026-10")] == [
        (1, "Cai Chege", D("25.000")), (2, "Ann Atieno", D("18.000"))]
    assert [(t.rank, t.client.full_name) for t in top_consumers("2026-09")] == [
        (1, "Cai Chege"), (2, "Ann Atieno"), (3, "Ben Barasa")]
    assert [(z.meter_id, z.client.full_name) for z in zero_meters("2026-10")] == [(story["ben_meter"].pk, "Ben Barasa")]
    assert len(zero_meters("2026-08")) == 3 and list(zero_meters("2026-09")) == []


def test_the_page_shows_the_tables_the_chart_and_the_lists(story) -> None:  # type: ignore[no-untyped-def]
    html = as_("amos@alpha.test").get(URL, {"period": "2026-10"}).content.decode()
    assert 'data-testid="money-chart"' in html and "<tspan>Oct </tspan>" in html and ">m³</text>" in html
    zone = html[html.index('data-testid="usage-by-zone"'):]
    zone = zone[:zone.index("</table>")]
    assert ('<td data-label="Month">Oct 2026</td><td class="num" data-label="North">18.000</td>'
            '<td class="num" data-label="South">25.000</td><td class="num" data-label="No zone">0.000</td>'
            '<td class="num" data-label="Total">43.000</td>') in zone
    assert '<th class="num" data-label="Total">98.200</th></tr></tfoot>' in zone
    assert '<th class="num">Commercial</th><th class="num">Domestic</th>' in html
    assert 'data-testid="meters-read">3<' in html and 'data-testid="zero-meters">1<' in html
    top = html[html.index('data-testid="top-consumers"'):html.index('id="zero-h"')]
    assert top.index(f'href="/dashboard/clients/{story["cai"].pk}/"') < top.index(f'href="/dashboard/clients/{story["ann"].pk}/"')
    assert '<td data-label="Billed m³" class="num">25.000</td>' in top
    zero = html[html.index('data-testid="zero-list"'):]
    assert f'>{story["ben_meter"].serial}<' in zero and f'href="/dashboard/clients/{story["ben"].pk}/"' in zero
    assert "Ann Atieno" not in zero
    # A month not billed yet: the empty lists say why, not just that they are empty.
    november = as_("amos@alpha.test").get(URL, {"period": "2026-11"}).content.decode()
    assert "November 2026 is not billed yet: its top consumers show here once its bills are issued." in november
    zero = november[november.index('data-testid="zero-list"'):]
    assert "Every meter read in November 2026 used some water." in zero


def _csv(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def test_the_downloads_round_trip(story) -> None:  # type: ignore[no-untyped-def]
    http = as_("anne@alpha.test")
    zone = _csv(http.get(URL, {"period": "2026-10", "export": "csv"}))
    assert zone[0] == ["Month", "North (m³)", "South (m³)", "No zone (m³)", "Total (m³)"]
    assert zone[-2:] == [["2026-10", "18.000", "25.000", "0.000", "43.000"], ["2026-11", "0.200", "0.000", "0.000", "0.200"]]
    assert len(zone) == 13
    top = _csv(http.get(URL, {"period": "2026-10", "export": "csv", "table": "top"}))
    assert top == [["Rank", "Account", "Client", "Consumption (m³)"],
                   ["1", story["cai"].account_number, "Cai Chege", "25.000"],
                   ["2", story["ann"].account_number, "Ann Atieno", "18.000"]]
    zero = _csv(http.get(URL, {"period": "2026-10", "export": "csv", "table": "zero"}))
    assert zero == [["Meter", "Account", "Client", "Zone", "Category"],
                    [story["ben_meter"].serial, story["ben"].account_number, "Ben Barasa", "", "Domestic"]]
    category = _csv(http.get(URL, {"period": "2026-10", "export": "csv", "table": "category"}))
    assert category[-3][0] == "2026-09" and category[-3][1:] == ["40.000", "15.000", "55.000"]
    response = http.get(URL, {"period": "2026-10", "export": "xlsx"})
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    assert book.sheetnames == ["By zone", "By category", "Top consumers 2026-10", "Zero meters 2026-10"]
    for sheet, rows in zip(book.worksheets, (zone, category, top, zero), strict=True):
        got = [["" if v is None else f"{v:.3f}" if isinstance(v, (int, float)) else str(v) for v in r]
               for r in sheet.iter_rows(values_only=True)]
        if sheet.title.startswith("Top"):
            got = [[r[0].split(".")[0], *r[1:]] for r in got]  # the rank is a number
        assert got == rows, sheet.title


@pytest.mark.parametrize(("persona", "status"), [("alice@alpha.test", 200), ("amos@alpha.test", 200),
                                                 ("anne@alpha.test", 200), ("ari@alpha.test", 403),
                                                 ("carol@alpha.test", 403)])
def test_only_finance_roles_open_consumption(story, persona: str, status: int) -> None:  # type: ignore[no-untyped-def]
    http = as_(persona)
    assert http.get(URL).status_code == status
    assert http.get(URL, {"export": "xlsx"}).status_code == status


def test_beta_never_sees_alphas_consumption(story, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(beta):
        assert usage(recent_periods(12)).total == D("0.000")
    connection.set_schema_to_public()
    http = as_("bob@beta.test", "beta")
    html = http.get(URL, {"period": "2026-10"}).content.decode()
    assert "North" not in html and "Cai Chege" not in html and "43.000" not in html
    assert _csv(http.get(URL, {"period": "2026-10", "export": "csv", "table": "top"})) == [
        ["Rank", "Account", "Client", "Consumption (m³)"]]


def test_the_consumption_page_has_a_pinned_query_count(story, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    http = as_("anne@alpha.test")
    http.get(URL, {"period": "2026-10"})
    with django_assert_num_queries(15):
        assert http.get(URL, {"period": "2026-10"}).status_code == 200
