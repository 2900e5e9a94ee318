"""The collections report with figures computed by hand (the story: tests/reports/money_story.py):
billed vs collected per month, efficiency, payments by method and by day, the unmatched, reversed
and refunded payments; downloads that equal the page; who may see it; another provider's view."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context
from openpyxl import load_workbook

from reports.collections import by_day, by_method, exception_payments, exceptions
from reports.figures import billed_vs_collected, figures_fresh
from tests.reports.money_story import NBO, STAFF, as_, paid, tell

D = Decimal
URL = "/dashboard/reports/collections/"


@pytest.fixture
def story(tenant) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    yield from tell()


def _csv(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def _sheets(response) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return {ws.title: [tuple(row) for row in ws.iter_rows(values_only=True)] for ws in book.worksheets}


def _rows(html: str, testid: str) -> list[list[str]]:
    """The text of each body row's cells of the table `testid` (tags dropped)."""
    table = html[html.index(f'data-testid="{testid}"'):]
    body = table[table.index("<tbody>"):table.index("</tbody>")]
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def test_the_figures_are_the_hand_computed_ones(story) -> None:  # type: ignore[no-untyped-def]
    figures_fresh()
    months = {m.period: m for m in billed_vs_collected(12)}
    assert (months["2026-09"].billed, months["2026-09"].collected, months["2026-09"].efficiency_percent) == (
        D("800.00"), D("0.00"), D("0.0"))
    assert (months["2026-10"].billed, months["2026-10"].collected) == (D("4276.68"), D("850.00"))
    assert (months["2026-10"].efficiency, months["2026-10"].efficiency_percent) == (D("0.1988"), D("19.9"))
    assert (months["2026-11"].billed, months["2026-11"].collected, months["2026-11"].efficiency) == (
        D("0.00"), D("400.00"), None)
    periods = list(months)
    methods = {m.period: m for m in by_method(periods)}
    assert (methods["2026-10"].amounts["mpesa"], methods["2026-10"].counts["mpesa"]) == (D("750.00"), 2)
    assert (methods["2026-10"].amounts["cash"], methods["2026-10"].counts["cash"]) == (D("100.00"), 1)
    assert (methods["2026-10"].total, methods["2026-10"].payments) == (D("850.00"), 3)
    assert (methods["2026-11"].amounts["bank"], methods["2026-11"].total) == (D("400.00"), D("400.00"))
    assert methods["2026-09"].total == D("0.00")
    october = by_day("2026-10")
    assert len(october) == 31
    assert [(d.day, d.payments, d.amount) for d in october if d.payments] == [
        (date(2026, 10, 10), 1, D("500.00")), (date(2026, 10, 20), 1, D("250.00")), (date(2026, 10, 31), 1, D("100.00"))]
    assert [(d.day.day, d.amount) for d in by_day("2026-11") if d.payments] == [(1, D("400.00"))]
    assert [(x.status, x.payments, x.amount) for x in exceptions(periods)] == [
        ("unmatched", 1, D("250.00")), ("reversed", 1, D("60.00")), ("refunded", 1, D("75.00"))]
    assert [p.receipt for p in exception_payments(periods)] == ["BEN0002", "LOST0002", "LOST0001"]
    assert [p.receipt for p in exception_payments(periods, "refunded")] == ["LOST0002"]
    # September's window (1 month) has none of them.
    assert [x.payments for x in exceptions(["2026-09"])] == [0, 0, 0]


def test_the_page_shows_them(story) -> None:  # type: ignore[no-untyped-def]
    html = as_("anne@alpha.test").get(URL).content.decode()
    assert "Collections · December 2025 to November 2026" in html
    months = _rows(html, "months-table")
    assert len(months) == 12
    assert months[:3] == [["Nov 2026", "KES 0.00", "KES 400.00", "—"],
                          ["Oct 2026", "KES 4,276.68", "KES 850.00", "19.9%"],
                          ["Sep 2026", "KES 800.00", "KES 0.00", "0.0%"]]
    assert html.count('data-testid="money-chart"') == 4  # billed/collected, efficiency, methods, days
    assert "<title>Oct 2026 · Collected: KES 850.00</title>" in html
    assert "<title>Oct 2026 · Collection efficiency: 19.9%</title>" in html
    methods = _rows(html, "methods-table")
    assert methods[1] == ["Oct 2026", "KES 750.00 (2)", "KES 0.00", "KES 100.00 (1)", "KES 0.00", "KES 0.00",
                          "KES 850.00 (3)"]
    assert methods[0] == ["Nov 2026", "KES 0.00", "KES 0.00", "KES 0.00", "KES 400.00 (1)", "KES 0.00", "KES 400.00 (1)"]
    # This month's days by default; any month of the window by ?month=.
    assert "Collected by day · November 2026" in html
    nov = _rows(html, "days-table")
    assert len(nov) == 10 and nov[-1][0] == "Tue 10 Nov 2026"  # to today: the days to come are not zeros
    assert nov[0] == ["Sun 1 Nov 2026", "1", "KES 400.00"] and nov[2] == ["Tue 3 Nov 2026", "0", "KES 0.00"]
    october = as_("anne@alpha.test").get(URL, {"month": "2026-10"}).content.decode()
    assert [r for r in _rows(october, "days-table") if r[1] != "0"] == [
        ["Sat 10 Oct 2026", "1", "KES 500.00"], ["Tue 20 Oct 2026", "1", "KES 250.00"], ["Sat 31 Oct 2026", "1", "KES 100.00"]]
    assert 'data-testid="days-total">KES 850.00<' in october and 'data-testid="days-payments">3<' in october
    assert _rows(html, "exceptions-table") == [
        ["Unmatched (reconciliation)", "1", "KES 250.00", "in the account, no client found yet (counted as collected)"],
        ["Reversed", "1", "KES 60.00", "recorded in error and reversed (not collected)"],
        ["Refunded", "1", "KES 75.00", "given back to the payer (not collected)"]]
    listing = _rows(html, "exception-payments")
    assert [r[0] for r in listing] == ["BEN0002", "LOST0002", "LOST0001"]
    assert listing[0][1:] == ["3 Nov 2026, 10:00", "M-Pesa", "Reversed", f"{story['ben'].account_number} · Ben Barasa",
                              "KES 60.00"]
    assert f'href="/dashboard/payments/{story["reversed"].pk}/"' in html


def test_24_months_and_the_status_filter(story) -> None:  # type: ignore[no-untyped-def]
    http = as_("alice@alpha.test")
    html = http.get(URL, {"months": "24"}).content.decode()
    assert "Collections · December 2024 to November 2026" in html and len(_rows(html, "months-table")) == 24
    refunded = http.get(URL, {"status": "refunded"}).content.decode()
    assert [r[0] for r in _rows(refunded, "exception-payments")] == ["LOST0002"]
    # Nonsense falls back to the defaults.
    odd = http.get(URL, {"months": "7", "month": "2026-13", "status": "matched"}).content.decode()
    assert len(_rows(odd, "months-table")) == 12 and "Collected by day · November 2026" in odd
    assert len(_rows(odd, "exception-payments")) == 3


def test_the_payment_list_pages_by_25(story) -> None:  # type: ignore[no-untyped-def]
    for i in range(51):
        paid(None, "1.00", datetime(2026, 11, 5, 8, 0, tzinfo=NBO), f"NOONE{i:03d}")
    http = as_("anne@alpha.test")
    first = http.get(URL).content.decode()
    assert len(_rows(first, "exception-payments")) == 25 and "1–25 of 54" in first
    assert 'data-testid="exception-unmatched"' in first and _rows(first, "exceptions-table")[0][1:3] == ["52", "KES 301.00"]
    third = http.get(URL, {"page": "3"}).content.decode()
    assert [r[0] for r in _rows(third, "exception-payments")] == ["NOONE000", "BEN0002", "LOST0002", "LOST0001"]
    assert "51–54 of 54" in third
    # The list's count is the figures' while they are fresh; when they wait for a refresh job (a
    # slow provider), the list is counted itself and still says every payment.
    from reports.models import Refresh

    Refresh.objects.filter(pk=1).update(seconds=12.5)
    for i in range(2):
        paid(None, "1.00", datetime(2026, 11, 6, 8, 0, tzinfo=NBO), f"LATER{i}")
    stale = http.get(URL).content.decode()
    assert _rows(stale, "exceptions-table")[0][1] == "52" and "1–25 of 56" in stale
    assert [r[0] for r in _rows(stale, "exception-payments")][:2] == ["LATER1", "LATER0"]


def test_the_downloads_equal_the_page(story) -> None:  # type: ignore[no-untyped-def]
    http = as_("amos@alpha.test")
    months = _csv(http.get(URL, {"export": "csv"}))
    assert months[0] == ["Month", "Billed (KES)", "Collected (KES)", "Collection efficiency (%)"]
    assert len(months) == 13 and months[-1] == ["2026-11", "0.00", "400.00", ""]
    assert months[-2] == ["2026-10", "4276.68", "850.00", "19.9"] and months[-3] == ["2026-09", "800.00", "0.00", "0.0"]
    methods = _csv(http.get(URL, {"export": "csv", "table": "methods"}))
    assert methods[0][:3] == ["Month", "M-Pesa payments", "M-Pesa (KES)"] and methods[0][-2:] == ["Total payments", "Total (KES)"]
    assert methods[-2] == ["2026-10", "2", "750.00", "0", "0.00", "1", "100.00", "0", "0.00", "0", "0.00", "3", "850.00"]
    days = _csv(http.get(URL, {"export": "csv", "table": "days", "month": "2026-10"}))
    assert len(days) == 32 and days[10] == ["2026-10-10", "1", "500.00"] and days[31] == ["2026-10-31", "1", "100.00"]
    assert days[1] == ["2026-10-01", "0", "0.00"]
    flagged = _csv(http.get(URL, {"export": "csv", "table": "exceptions"}))
    assert flagged == [["Status", "Payments", "Amount (KES)"], ["Unmatched (reconciliation)", "1", "250.00"],
                       ["Reversed", "1", "60.00"], ["Refunded", "1", "75.00"]]
    listed = _csv(http.get(URL, {"export": "csv", "table": "payments"}))
    ben = story["ben"].account_number
    assert listed == [["Receipt", "Paid", "Method", "Status", "Account", "Client", "Amount (KES)"],
                      ["BEN0002", "2026-11-03 10:00", "M-Pesa", "Reversed", ben, "Ben Barasa", "60.00"],
                      ["LOST0002", "2026-10-31 22:00", "M-Pesa", "Refunded", "NOSUCH", "", "75.00"],
                      ["LOST0001", "2026-10-20 09:00", "M-Pesa", "Unmatched (reconciliation)", "NOSUCH", "", "250.00"]]
    assert _csv(http.get(URL, {"export": "csv", "table": "payments", "status": "refunded"}))[1:] == [listed[2]]
    response = http.get(URL, {"export": "xlsx", "month": "2026-10"})
    assert response["Content-Disposition"].startswith('attachment; filename="collections-12-months-')
    sheets = _sheets(response)
    assert list(sheets) == ["Billed vs collected", "By method", "By day", "Unmatched and reversed", "The payments"]
    assert [r[0] for r in sheets["The payments"]] == ["Receipt", "BEN0002", "LOST0002", "LOST0001"]
    assert sheets["Billed vs collected"][0] == tuple(months[0])
    assert sheets["Billed vs collected"][-2] == ("2026-10", 4276.68, 850, 19.9)
    assert sheets["Billed vs collected"][-1] == ("2026-11", 0, 400, None)
    # Every sheet equals its CSV table, cell by cell.
    for table, title in (("months", "Billed vs collected"), ("methods", "By method"), ("exceptions", "Unmatched and reversed")):
        rows = _csv(http.get(URL, {"export": "csv", "table": table}))
        assert [[_cell(v) for v in r] for r in sheets[title]] == [[_cell(v) for v in r] for r in rows], table
    assert sheets["By day"][10][1:] == (1, 500) and sheets["By day"][10][0].date() == date(2026, 10, 10)
    # The page's tables are the downloads' (the months newest first on the page).
    page = http.get(URL, {"month": "2026-10"}).content.decode()
    assert [[_as_csv(c) for c in r] for r in reversed(_rows(page, "months-table"))] == months[1:]
    assert [[_as_csv(c) for c in r] for r in _rows(page, "days-table")] == days[1:]
    assert [[_as_csv(c) for c in r[:3]] for r in _rows(page, "exceptions-table")] == flagged[1:]


def _as_csv(cell: str) -> str:
    """A page cell as the download writes it: `Oct 2026` → `2026-10`, `Sat 10 Oct 2026` →
    `2026-10-10`, `KES 4,276.68` → `4276.68`, `19.9%` → `19.9`, `—` → ``."""
    for shape, out in (("%b %Y", "%Y-%m"), ("%a %d %b %Y", "%Y-%m-%d")):
        try:
            return datetime.strptime(cell, shape).strftime(out)  # noqa: DTZ007 - a calendar label
        except ValueError:
            pass
    if cell == "—":
        return ""
    return cell.removeprefix("KES ").replace(",", "").removesuffix("%")


def _cell(value: object) -> str:
    """A cell as text, numbers compared as numbers (XLSX gives floats, CSV text)."""
    if value is None or value == "":
        return ""
    try:
        return f"{Decimal(str(value)):.4f}"
    except ArithmeticError:
        return str(value)


@pytest.mark.parametrize("persona", STAFF)
def test_owner_manager_and_accountant_open_it(story, persona: str) -> None:  # type: ignore[no-untyped-def]
    http = as_(persona)
    assert http.get(URL).status_code == 200
    assert http.get(URL, {"export": "xlsx"}).status_code == 200


@pytest.mark.parametrize("persona", ["ari@alpha.test", "carol@alpha.test"])
def test_others_are_refused(story, persona: str) -> None:  # type: ignore[no-untyped-def]
    http = as_(persona)
    assert http.get(URL).status_code == 403
    assert http.get(URL, {"export": "csv"}).status_code == 403


def test_beta_never_sees_alphas_payments(story, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(beta):
        paid(None, "7777.00", datetime(2026, 10, 5, 9, tzinfo=NBO), "BETA0001")
    connection.set_schema_to_public()
    bob = as_("bob@beta.test", "beta").get(URL).content.decode()
    assert "KES 7,777.00" in bob and "850.00" not in bob and "4,276.68" not in bob and "LOST0001" not in bob
    rows = _rows(bob, "months-table")
    assert rows[1] == ["Oct 2026", "KES 0.00", "KES 7,777.00", "—"]
    alice = as_("alice@alpha.test").get(URL).content.decode()
    assert "7,777" not in alice and "BETA0001" not in alice


def test_the_page_has_a_pinned_query_count(story, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    http = as_("anne@alpha.test")
    http.get(URL)  # warm: the figures, the session
    # The session, the user, freshness, billed, collected, by method, by day, the exceptions, the
    # list's page (its count is the exceptions' figures) and the connection's own three (provider,
    # search path).
    with django_assert_num_queries(12):
        assert http.get(URL).status_code == 200
    for i in range(5):
        paid(None, "2.00", datetime(2026, 11, 4, 8, 0, tzinfo=NBO), f"MORE{i}")
    http.get(URL)  # the refresh
    with django_assert_num_queries(12):
        assert http.get(URL, {"months": "24"}).status_code == 200
