"""The meter-reading report, with figures computed by hand.

The story (alpha, seen on 20 Nov 2026; meters installed 1 Jan 2026 unless said):
- zone North: Ann (M1), Ben (M2), Cid (M3, a 99.999 m³ dial); no zone: Dee (M4, a 99.999 dial), Eve (M5),
  Fay (M6, installed 15 Sep 2026); Gus (M7) is disconnected: not on the round.
- readings (no user: an API feed, for the history):
  M1: 30 Sep "10"; 31 Oct 23:30 Nairobi (20:30 UTC, still October) "20" by Ari; 12 Nov "24" by Ari.
  M2: 30 Sep "10"; 30 Oct "20" by Ari; 1 Nov 00:30 Nairobi (31 Oct 21:30 UTC: November) "20.3" by Amos.
  M3: 31 Aug "10"; 15 Nov "70" by Ari: 60 m³ on a 99.999 dial is over half of it: flagged, waiting.
  M4: 1 Sep "5"; 10 Nov "60" by Ari: flagged (55 m³), rejected by Amos.
  M5, M6: never read. M7: 31 Aug "3".
- November's round: North 3 to read, 3 read (M1, M2 and M3: a flagged reading was read); no zone 3 to
  read, 0 read (M4's reading was rejected): 3 of 6, 50.0%. October: North 2 (M1 on the 31st at 23:30,
  M2), no zone 0: 2 of 6, 33.3%.
- November by reader: Ari 3 readings (1 accepted, 1 flagged, 1 rejected), Amos 1 (accepted).
  October: Ari 2 accepted. September: no user, 3 (M1, M2, M4).
- not read for 2 periods or more (no accepted reading since before 1 Sep, the first of the month two
  before November): M5 (never read, installed 1 Jan) and M3 (last accepted 31 Aug); not M4 (1 Sep: it
  missed only October), not M6 (installed 15 Sep), not M7 (not on the round).
- flagged waiting for review: 1 (M3's).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from html import unescape
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.db import connection
from django.test import Client as Http
from django_tenants.utils import tenant_context

from accounts.models import User
from clients.models import Client, Zone
from meters.models import Meter, Reading
from meters.selectors import reading_round
from meters.services import reading_review, readings_record
from reports.figures import figures_fresh
from reports.readings import completion, flagged_waiting, readers, unread_count, unread_meters
from tests.billing_helpers import metered, travel
from tests.conftest import host_of, login

NBO = ZoneInfo("Africa/Nairobi")
TODAY = "2026-11-20"
URL = "/dashboard/reports/readings/"


def as_(email: str, slug: str = "alpha") -> Http:
    http = Http(HTTP_HOST=host_of(slug))
    assert login(http, email).status_code == 302
    return http


def rd(meter: Meter, value: str, when: datetime, user: User | None = None) -> None:
    result = readings_record([{"meter": meter.serial, "value": value, "read_at": when}], source="manual" if user else "api",
                             user=user)
    assert result.errors == [], result.errors


def at(day: str, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=NBO)


@pytest.fixture
def story(tenant):  # type: ignore[no-untyped-def]
    north = Zone.objects.create(code="north", name="North")
    ari, amos = User.objects.get(email="ari@alpha.test"), User.objects.get(email="amos@alpha.test")
    with travel(TODAY):
        m: dict[str, Meter] = {}
        for key, name, zone, extra in (("M1", "Ann Atieno", north, {}), ("M2", "Ben Barasa", north, {}),
                                       ("M3", "Cid Chege", north, {"capacity": "99.999"}),
                                       ("M4", "Dee Dida", None, {"capacity": "99.999"}), ("M5", "Eve Ekai", None, {}),
                                       ("M6", "Fay Fundi", None, {"installed": date(2026, 9, 15)}),
                                       ("M7", "Gus Gitau", north, {})):
            client, m[key] = metered(name, **extra)  # type: ignore[arg-type]
            client.zone = zone
            client.save(update_fields=["zone"])
        for key, value, when in (("M1", "10", at("2026-09-30")), ("M2", "10", at("2026-09-30")),
                                 ("M3", "10", at("2026-08-31")), ("M4", "5", at("2026-09-01")),
                                 ("M7", "3", at("2026-08-31"))):
            rd(m[key], value, when)
        rd(m["M1"], "20", at("2026-10-31", 23, 30), ari)
        rd(m["M2"], "20", at("2026-10-30"), ari)
        rd(m["M1"], "24", at("2026-11-12"), ari)
        rd(m["M2"], "20.3", at("2026-11-01", 0, 30), amos)
        rd(m["M3"], "70", at("2026-11-15"), ari)
        rd(m["M4"], "60", at("2026-11-10"), ari)
        assert Reading.objects.filter(status=Reading.Status.FLAGGED).count() == 2
        reading_review(reading=Reading.objects.get(meter=m["M4"], status=Reading.Status.FLAGGED), accept=False,
                       actor=amos)
        Client.objects.filter(pk=m["M7"].client_id).update(status=Client.Status.DISCONNECTED)
        yield {"meters": m, "north": north, "ari": ari, "amos": amos}


def test_the_figures_are_the_hand_computed_ones(story) -> None:  # type: ignore[no-untyped-def]
    figures_fresh()
    north = story["north"].pk
    nov = completion("2026-11")
    assert [(z.zone_id, z.name, z.meters, z.read, z.remaining, z.percent) for z in nov.zones] == [
        (north, "North", 3, 3, 0, 100), (None, "", 3, 0, 3, 0)]
    assert (nov.meters, nov.read, nov.remaining, str(nov.percent)) == (6, 3, 3, "50.0")
    # The current month's completion is the reading round's (meters.selectors, read live).
    live = reading_round()
    assert [(z.code, z.meters, z.read) for z in live.zones] == [("north", 3, 3), ("", 3, 0)]
    oct_ = completion("2026-10")
    assert [(z.meters, z.read) for z in oct_.zones] == [(3, 2), (3, 0)] and str(oct_.percent) == "33.3"
    ari, amos = story["ari"], story["amos"]
    assert [(r.user_id, r.name, r.readings, r.accepted, r.flagged, r.rejected) for r in readers("2026-11")] == [
        (ari.pk, "Ari Kamau", 3, 1, 1, 1), (amos.pk, "Amos Mutua", 1, 1, 0, 0)]
    assert [(r.user_id, r.readings, r.accepted) for r in readers("2026-10")] == [(ari.pk, 2, 2)]
    assert [(r.user_id, r.name, r.readings) for r in readers("2026-09")] == [(None, "", 3)]
    today = date(2026, 11, 20)
    assert flagged_waiting() == 1 and unread_count(today) == 2
    m = story["meters"]
    assert [(u.meter_id, u.last_read_on, u.since) for u in unread_meters(today)] == [
        (m["M5"].pk, None, date(2026, 1, 1)), (m["M3"].pk, date(2026, 8, 31), date(2026, 8, 31))]
    # On 1 December the cutoff moves to 1 October: M4 (1 Sep) and M6 (installed 15 Sep) join them.
    assert unread_count(date(2026, 12, 1)) == 4


def _cells(html: str, testid: str) -> list[list[str]]:
    import re

    table = html[html.index(f'data-testid="{testid}"'):]
    body = table[table.index("<tbody>"):table.index("</tbody>")]
    return [[unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def test_the_page_shows_them(story) -> None:  # type: ignore[no-untyped-def]
    with travel(TODAY):
        html = as_("amos@alpha.test").get(URL).content.decode()
    for testid, text in (("readings-read", "3 of 6"), ("readings-remaining", "3"), ("readings-flagged", "1"),
                         ("readings-unread", "2")):
        assert f'data-testid="{testid}">{text}<' in html, testid
    assert "Meter reading · November 2026" in html and 'href="/dashboard/readings/review/"' in html
    assert _cells(html, "readings-zones") == [["North", "3", "3", "0", "100.0%"], ["No zone", "3", "0", "3", "0.0%"]]
    assert _cells(html, "readings-readers") == [["Ari Kamau", "3", "1", "1", "1"], ["Amos Mutua", "1", "1", "0", "0"]]
    m = story["meters"]
    assert _cells(html, "readings-unread-list") == [
        [m["M5"].serial, m["M5"].client.account_number, "No zone", "never", "1 Jan 2026"],
        [m["M3"].serial, m["M3"].client.account_number, "North", "31 Aug 2026", "1 Jan 2026"]]
    assert f'href="/dashboard/meters/{m["M3"].pk}/"' in html
    with travel(TODAY):
        october = as_("anne@alpha.test").get(URL + "?month=2026-10").content.decode()
    assert "Meter reading · October 2026" in october and 'data-testid="readings-read">2 of 6<' in october
    assert 'href="/dashboard/readings/review/"' not in october  # the accountant cannot review readings


def test_every_link_opens_for_its_viewer(story) -> None:  # type: ignore[no-untyped-def]
    import re

    for persona in ("alice@alpha.test", "amos@alpha.test", "anne@alpha.test"):
        http = as_(persona)
        with travel(TODAY):
            html = http.get(URL).content.decode()
            page = html[html.index('data-testid="figures-fresh"'):]
            for href in set(re.findall(r'href="(/dashboard/[^"#]*)', page)):
                assert http.get(href.replace("&amp;", "&")).status_code == 200, (persona, href)


def test_the_exports_equal_the_page(story) -> None:  # type: ignore[no-untyped-def]
    http = as_("anne@alpha.test")
    with travel(TODAY):
        html = http.get(URL).content.decode()
        zones = http.get(URL + "?export=csv")
        readers_csv = http.get(URL + "?export=csv&table=readers")
        unread_csv = http.get(URL + "?export=csv&table=unread")
        book = http.get(URL + "?export=xlsx")
    parsed = list(csv.reader(io.StringIO(b"".join(zones.streaming_content).decode("utf-8-sig"))))  # type: ignore[attr-defined]
    assert parsed[0] == ["Zone", "Meters to read", "Read", "Not read yet", "Read (%)"]
    page_zones = [[c.rstrip("%") for c in row] for row in _cells(html, "readings-zones")]
    assert parsed[1:] == page_zones
    parsed = list(csv.reader(io.StringIO(b"".join(readers_csv.streaming_content).decode("utf-8-sig"))))  # type: ignore[attr-defined]
    assert parsed[1:] == _cells(html, "readings-readers")
    parsed = list(csv.reader(io.StringIO(b"".join(unread_csv.streaming_content).decode("utf-8-sig"))))  # type: ignore[attr-defined]
    m = story["meters"]
    assert parsed[1:] == [[m["M5"].serial, m["M5"].client.account_number, "No zone", "", "2026-01-01"],
                          [m["M3"].serial, m["M3"].client.account_number, "North", "2026-08-31", "2026-01-01"]]
    wb = openpyxl.load_workbook(io.BytesIO(b"".join(book.streaming_content)))  # type: ignore[attr-defined]
    assert wb.sheetnames == ["Completion by zone", "Readings by reader", "Meters not read"]
    rows = [[str(v) if v is not None else "" for v in r] for r in wb["Completion by zone"].iter_rows(min_row=2, values_only=True)]
    assert [[r[0], *(str(int(float(v))) for v in r[1:4]), str(float(r[4]))] for r in rows] == \
           [[z[0], z[1], z[2], z[3], str(float(z[4]))] for z in page_zones]
    readers_rows = [list(r) for r in wb["Readings by reader"].iter_rows(min_row=2, values_only=True)]
    assert [[r[0], *(str(int(v)) for v in r[1:])] for r in readers_rows] == _cells(html, "readings-readers")
    unread_rows = [list(r) for r in wb["Meters not read"].iter_rows(min_row=2, values_only=True)]
    assert [(r[0], r[3].date() if r[3] else None) for r in unread_rows] == [(m["M5"].serial, None),
                                                                            (m["M3"].serial, date(2026, 8, 31))]


@pytest.mark.parametrize(("persona", "status"), [("alice@alpha.test", 200), ("amos@alpha.test", 200),
                                                 ("anne@alpha.test", 200), ("ari@alpha.test", 403),
                                                 ("carol@alpha.test", 403)])
def test_only_owner_manager_and_accountant_see_it(story, persona: str, status: int) -> None:  # type: ignore[no-untyped-def]
    http = Http(HTTP_HOST=host_of("alpha"))
    login(http, persona)
    with travel(TODAY):
        assert http.get(URL).status_code == status
        assert http.get(URL + "?export=csv").status_code == status


def test_beta_never_sees_alphas_readings(story, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(beta), travel(TODAY):
        figures_fresh()
        assert completion("2026-11").zones == [] and readers("2026-11") == [] and flagged_waiting() == 0
    connection.set_schema_to_public()
    with travel(TODAY):
        bob = as_("bob@beta.test", "beta").get(URL).content.decode()
    assert 'data-testid="readings-read">0 of 0<' in bob and "Ari Kamau" not in bob and "North" not in bob


def test_the_page_has_a_pinned_query_count(story, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    http = as_("anne@alpha.test")
    with travel(TODAY):
        http.get(URL)  # warm: the figures, the settings rows, the session
        with django_assert_num_queries(12):
            assert http.get(URL).status_code == 200
