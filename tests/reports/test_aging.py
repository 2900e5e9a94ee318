"""Arrears and aging, computed by hand on dates straddling every bucket edge.

The story (alpha, domestic tariff: up to 10 m³ @ 40, up to 30 @ 55, fixed charge 100; asked on
23 Nov 2026, the `tenant` fixture's day): every billed client has September's bill (10 m³,
500.00, billed 2 Oct) and October's (18 m³, 940.00, billed 2 Nov, due 16 Nov), 1,440.00 in all.
September's bill of the edge clients fell due on the day that puts it exactly that many days past
due on 23 Nov:
- Due Today (Oct's moved to 7 Dec): September's due 23 Nov, 0 days → not yet due, 1,440.00;
- D30 (North) due 24 Oct → 30 days → 1–30;  D31 (North) due 23 Oct → 31 → 31–60;
- D60 (South) due 24 Sep → 60 → 31–60;  D61 (South) due 23 Sep → 61 → 61–90;
- D90 due 25 Aug → 90 → 61–90;  D91 due 24 Aug → 91 → over 90;
- Credited: September's bill credited in full (500.00): owes 940.00, the oldest unpaid bill is
  October's (due 16 Nov, 7 days) → 1–30;
- Partly Paid: paid 300.00, September's (due 16 Oct) still 200.00 unpaid: the whole 1,140.00 is
  38 days past due → 31–60;
- Paid Up: paid 1,440.00: owes nothing, not in the aging;
- Charged (commercial): a 250.00 charge not billed yet, no bill unpaid → not yet due.
Buckets: not yet due 2 clients 1,690.00; 1–30 2 (D30, Credited) 2,380.00; 31–60 3 (D31, D60,
Partly Paid) 4,020.00; 61–90 2 2,880.00; over 90 1 1,440.00; total 10 clients 12,410.00.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from django.db import connection
from django.test import Client as Http
from django_tenants.utils import tenant_context

from arrears.selectors import oldest_unpaid_due
from billing.models import Invoice
from billing.runs import billing_run_finalize, billing_run_start
from billing.selectors import balance_of_client
from billing.services import adjustment_post, credit_note_create
from clients.models import Category, Client, Zone
from majismart.exports import csv_lines
from reports.exports import AGING_COLUMNS, aging_copy_sql, aging_csv, aging_rows
from reports.figures import aging, aging_by, figures_fresh, positions_in
from reports.models import Position
from tests.arrears.helpers import pay
from tests.billing_helpers import metered, read, travel
from tests.conftest import host_of, login

D = Decimal
TODAY = date(2026, 11, 23)
URL = "/dashboard/reports/aging/"
SEPTEMBER_DUE = {"Due Today": date(2026, 11, 23), "D30": date(2026, 10, 24), "D31": date(2026, 10, 23),
                 "D60": date(2026, 9, 24), "D61": date(2026, 9, 23), "D90": date(2026, 8, 25), "D91": date(2026, 8, 24)}
EXPECTED = [("current", 2, D("1690.00")), ("1-30", 2, D("2380.00")), ("31-60", 3, D("4020.00")),
            ("61-90", 2, D("2880.00")), ("90+", 1, D("1440.00"))]


def as_(email: str, slug: str = "alpha") -> Http:
    http = Http(HTTP_HOST=host_of(slug))
    assert login(http, email).status_code == 302
    return http


@pytest.fixture
def story(tenant):  # type: ignore[no-untyped-def]
    north, south = Zone.objects.create(code="north", name="North"), Zone.objects.create(code="south", name="South")
    names = [*SEPTEMBER_DUE, "Credited", "Partly Paid", "Paid Up"]
    made: dict[str, Client] = {}
    for name in names:
        client, meter = metered(name)
        for value, day in (("0", "2026-08-31"), ("10", "2026-09-30"), ("28", "2026-10-31")):
            read(meter, value, day)
        made[name] = client
    for period, day in (("2026-09", "2026-10-02"), ("2026-10", "2026-11-02")):
        with travel(day):
            billing_run_finalize(run=billing_run_start(period=period)[0])
    for name, due in SEPTEMBER_DUE.items():
        Invoice.objects.filter(client=made[name], period="2026-09").update(due_date=due)
    Invoice.objects.filter(client=made["Due Today"], period="2026-10").update(due_date=date(2026, 12, 7))
    Client.objects.filter(pk__in=[made["D30"].pk, made["D31"].pk]).update(zone=north)
    Client.objects.filter(pk__in=[made["D60"].pk, made["D61"].pk]).update(zone=south)
    credit_note_create(invoice=Invoice.objects.get(client=made["Credited"], period="2026-09"), amount="500.00",
                       reason="Meter misread", actor="test")
    pay(made["Partly Paid"], "300.00")
    pay(made["Paid Up"], "1440.00")
    charged, _ = metered("Charged", category="commercial")
    adjustment_post(client=charged, amount="250.00", reason="Reconnection fee", actor="test")
    made["Charged"] = charged
    made["north"], made["south"] = north, south  # type: ignore[assignment]
    figures_fresh()
    return made


def test_the_buckets_split_every_balance_at_the_edges(story) -> None:  # type: ignore[no-untyped-def]
    total = aging(today=TODAY)
    assert [(b.name, b.clients, b.amount) for b in total.buckets] == EXPECTED
    assert (total.total, total.clients, total.past_due) == (D("12410.00"), 10, D("10720.00"))
    by_zone = {key: [(b.name, b.amount) for b in a.buckets if b.clients] for key, a in aging_by("zone", today=TODAY)}
    assert by_zone == {
        story["north"].pk: [("1-30", D("1440.00")), ("31-60", D("1440.00"))],
        story["south"].pk: [("31-60", D("1440.00")), ("61-90", D("1440.00"))],
        None: [("current", D("1690.00")), ("1-30", D("940.00")), ("31-60", D("1140.00")), ("61-90", D("1440.00")),
               ("90+", D("1440.00"))]}
    commercial = Category.objects.get(code="commercial").pk
    by_category = {key: a for key, a in aging_by("category", today=TODAY)}
    assert [(b.name, b.amount) for b in by_category[commercial].buckets if b.clients] == [("current", D("250.00"))]
    # A day later every edge client moves on one bucket (Due Today 1 day past due; D90 91 days).
    later = aging(today=date(2026, 11, 24))
    assert [(b.name, b.clients) for b in later.buckets] == [("current", 1), ("1-30", 2), ("31-60", 3), ("61-90", 2),
                                                            ("90+", 2)]


def test_the_positions_agree_with_arrears_oldest_unpaid_bill(story) -> None:  # type: ignore[no-untyped-def]
    ledger = {c.pk: (c.balance, c.oldest_due) for c in Client.objects.annotate(balance=balance_of_client())
              .filter(balance__gt=0).annotate(oldest_due=oldest_unpaid_due())}
    assert {p.client_id: (p.balance, p.oldest_due) for p in Position.objects.all()} == ledger
    assert ledger[story["Partly Paid"].pk] == (D("1140.00"), date(2026, 10, 16))
    assert ledger[story["Credited"].pk] == (D("940.00"), date(2026, 11, 16))
    assert ledger[story["Charged"].pk] == (D("250.00"), None)
    assert story["Paid Up"].pk not in ledger


def test_the_drill_down_lists_a_buckets_clients_biggest_first(story) -> None:  # type: ignore[no-untyped-def]
    assert [p.client.full_name for p in positions_in("31-60", today=TODAY)] == ["D31", "D60", "Partly Paid"]
    assert [p.client.full_name for p in positions_in("31-60", today=TODAY, zone=story["north"].pk)] == ["D31"]
    assert [p.client.full_name for p in positions_in("31-60", today=TODAY, zone=0)] == ["Partly Paid"]
    html = as_("anne@alpha.test").get(URL, {"bucket": "31-60"}).content.decode()
    drill = html[html.index('data-testid="aging-drill"'):html.index('id="aging-h"')]
    assert "31–60 days: 3 clients" in drill
    rows = [(story[n].account_number, n) for n in ("D31", "D60", "Partly Paid")]
    at = [drill.index(f'href="/dashboard/clients/{story[n].pk}/">{account}</a>') for account, n in rows]
    assert at == sorted(at)
    assert '<td data-label="Zone">North</td>' in drill and '<td data-label="Days past due" class="num">38</td>' in drill
    assert '<td data-label="Balance" class="num">KES 1,140.00</td>' in drill
    assert "16 Oct 2026" in drill and "23 Oct 2026" in drill and "24 Sep 2026" in drill
    south = as_("anne@alpha.test").get(URL, {"bucket": "61-90", "zone": story["south"].pk}).content.decode()
    assert "61–90 days · South: 1 client" in south and ">D61<" in south and ">D90<" not in south


def test_the_page_shows_the_totals_by_zone_and_category(story) -> None:  # type: ignore[no-untyped-def]
    html = as_("alice@alpha.test").get(URL).content.decode()
    assert 'data-testid="aging-total">KES 12,410.00<' in html and 'data-testid="aging-past-due">KES 10,720.00<' in html
    zone = html[html.index('data-testid="aging-by-zone"'):]
    zone = zone[:zone.index("</table>")]
    north = story["north"].pk
    assert (f'<td data-label="Zone">North</td><td data-label="Not yet due" class="num">KES 0.00</td>'
            f'<td data-label="1–30 days" class="num"><a href="?bucket=1-30&amp;zone={north}">KES 1,440.00</a></td>') in zone
    assert '<a href="?bucket=current&amp;zone=0">KES 1,690.00</a>' in zone
    # The total row names each figure (data-label): on a phone it is a card like the rows.
    assert ('<tfoot><tr class="stack-labelled"><th>Total</th><th class="num" data-label="Not yet due">KES 1,690.00</th>'
            '<th class="num" data-label="1–30 days">KES 2,380.00</th>') in zone
    assert 'data-testid="stacked-chart"' in html and ">North<" in html and ">No zone<" in html
    category = html[html.index('data-testid="aging-by-category"'):]
    assert '<td data-label="Category">Commercial</td><td data-label="Not yet due" class="num"><a href' in category


def _csv(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def _xlsx(response) -> list[list[object]]:  # type: ignore[no-untyped-def]
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]


HEADER = ["Account", "Client", "Zone", "Category", "Balance (KES)", "Oldest unpaid due", "Days past due", "Bucket"]


def test_the_download_is_every_client_owing_and_round_trips(story) -> None:  # type: ignore[no-untyped-def]
    http = as_("anne@alpha.test")
    rows = _csv(http.get(URL, {"export": "csv"}))
    assert rows[0] == HEADER and len(rows) == 11
    a = {n: story[n].account_number for n in story if isinstance(story[n], Client)}
    assert rows[1:4] == [[a["Due Today"], "Due Today", "", "Domestic", "1440.00", "2026-11-23", "0", "Not yet due"],
                         [a["D30"], "D30", "North", "Domestic", "1440.00", "2026-10-24", "30", "1–30 days"],
                         [a["D31"], "D31", "North", "Domestic", "1440.00", "2026-10-23", "31", "31–60 days"]]
    assert rows[-3:] == [[a["Partly Paid"], "Partly Paid", "", "Domestic", "1140.00", "2026-10-16", "38", "31–60 days"],
                         [a["Credited"], "Credited", "", "Domestic", "940.00", "2026-11-16", "7", "1–30 days"],
                         [a["Charged"], "Charged", "", "Commercial", "250.00", "", "", "Not yet due"]]
    assert sum(D(r[4]) for r in rows[1:]) == D("12410.00")
    sheet = _xlsx(http.get(URL, {"export": "xlsx"}))
    assert sheet[0] == HEADER and len(sheet) == 11
    for row, cells in zip(rows[1:], sheet[1:], strict=True):
        due = cells[5].date().isoformat() if cells[5] is not None else ""
        assert [cells[0], cells[1], cells[2] or "", cells[3], f"{cells[4]:.2f}", due,
                "" if cells[6] is None else str(cells[6]), cells[7]] == row
    # A drilled download is the drill-down's list, all of it.
    drilled = _csv(http.get(URL, {"bucket": "31-60", "export": "csv"}))
    assert [r[1] for r in drilled[1:]] == ["D31", "D60", "Partly Paid"]
    north = _csv(http.get(URL, {"bucket": "31-60", "zone": story["north"].pk, "export": "csv"}))
    assert [r[1] for r in north[1:]] == ["D31"]


def test_postgresql_writes_the_lines_as_the_python_writer_would(story) -> None:  # type: ignore[no-untyped-def]
    """The aging CSV (PostgreSQL's cells, Python's names) is byte for byte the generic CSV writer's
    output of the same rows, quoting and formula guards included, whatever the text."""
    odd = story["D60"]
    Client.objects.filter(pk=odd.pk).update(account_number="=CMD|1")
    odd.refresh_from_db()
    odd.full_name = 'Otieno, "Baba" Juma'
    odd.save()
    formula = story["D90"]
    formula.full_name = "=HYPERLINK(\"http://x\")"
    formula.save()
    story["south"].name = "+South, upper"
    story["south"].save()
    Client.objects.filter(pk=story["D30"].pk).update(account_number="+254711000000")  # a phone: left as it is
    figures_fresh()
    Client.objects.filter(pk=story["D61"].pk).update(account_number='A,"1"')  # quoted by COPY
    figures_fresh()

    def same_as_the_python_writer() -> None:
        for asked in ({}, {"bucket": "31-60"}, {"zone": story["south"].pk}, {"zone": 0}, {"bucket": "90+", "zone": 0}):
            written = b"".join(aging_csv(today=TODAY, **asked)).decode("utf-8-sig")
            expected = "".join(csv_lines(AGING_COLUMNS, aging_rows(today=TODAY, **asked))).lstrip("\ufeff")
            assert written == expected

    same_as_the_python_writer()
    # A cell that looks like a name's token field: the lines are taken one at a time, still the same.
    story["north"].name = "North ,enc1:AAAA, side"
    story["north"].save()
    same_as_the_python_writer()
    story["south"].name = "South \x01 side"  # the mark PostgreSQL puts around a name, typed in another cell
    story["south"].save()
    same_as_the_python_writer()
    rows = list(csv.reader(io.StringIO(b"".join(aging_csv(today=TODAY)).decode("utf-8-sig"))))
    by_name = {r[1]: r for r in rows[1:]}
    assert by_name['Otieno, "Baba" Juma'][:3] == ["'=CMD|1", 'Otieno, "Baba" Juma', "South \x01 side"]
    assert by_name["'=HYPERLINK(\"http://x\")"][2] == ""
    assert by_name["D30"][0] == "+254711000000"


def test_a_name_that_is_not_a_token_stops_the_download(story) -> None:  # type: ignore[no-untyped-def]
    from majismart.crypto import PREFIX, Undecryptable

    for stored, error in (("Grace in clear", ValueError), (PREFIX, ValueError), (PREFIX + "QUJD", Undecryptable)):
        with connection.cursor() as cursor:
            cursor.execute("UPDATE clients_client SET full_name = %s WHERE id = %s", [stored, story["D31"].pk])
        with pytest.raises(error):
            b"".join(aging_csv(today=TODAY))


def test_the_copy_sql_selects_the_same_rows(story) -> None:  # type: ignore[no-untyped-def]
    from majismart.crypto import decrypt

    sql, params = aging_copy_sql(today=TODAY)
    with connection.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT WITH CSV", params) as copy:
        text = b"".join(bytes(block) for block in copy).decode()
    copied = list(csv.reader(io.StringIO(text)))
    expected = list(aging_rows(today=TODAY))
    assert [(int(r[0]), r[1], decrypt(r[2]), r[3], r[4], D(r[5]), r[6]) for r in copied] == [
        (r.client_id, r.account, r.name, r.zone, r.category, r.balance, r.oldest_due.isoformat() if r.oldest_due else "")
        for r in expected]
    drilled_sql, drilled_params = aging_copy_sql(today=TODAY, bucket="31-60", zone=0)
    assert len(drilled_params) >= 2
    with connection.cursor() as cursor:
        cursor.execute(drilled_sql, drilled_params)
        assert [r[0] for r in cursor.fetchall()] == [story["Partly Paid"].pk]


@pytest.mark.parametrize(("persona", "status"), [("alice@alpha.test", 200), ("amos@alpha.test", 200),
                                                 ("anne@alpha.test", 200), ("ari@alpha.test", 403),
                                                 ("carol@alpha.test", 403)])
def test_only_finance_roles_open_the_aging(story, persona: str, status: int) -> None:  # type: ignore[no-untyped-def]
    http = as_(persona)
    assert http.get(URL).status_code == status
    assert http.get(URL, {"bucket": "90+", "export": "csv"}).status_code == status


def test_beta_never_sees_alphas_aging(story, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(beta):
        assert aging(today=TODAY).total == D("0.00")
    connection.set_schema_to_public()
    http = as_("bob@beta.test", "beta")
    html = http.get(URL).content.decode()
    assert 'data-testid="aging-total">KES 0.00<' in html and "12,410.00" not in html and "North" not in html
    assert len(_csv(http.get(URL, {"export": "csv"}))) == 1
    assert "D31" not in http.get(URL, {"bucket": "31-60"}).content.decode()


@pytest.mark.parametrize(("params", "queries"), [({}, 11), ({"bucket": "31-60"}, 13)])
def test_the_aging_page_has_a_pinned_query_count(story, params: dict, queries: int,  # type: ignore[no-untyped-def]
                                                 django_assert_num_queries) -> None:
    http = as_("anne@alpha.test")
    http.get(URL, params)
    with django_assert_num_queries(queries):
        assert http.get(URL, params).status_code == 200
