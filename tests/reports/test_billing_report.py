"""The billing report with figures computed by hand (the story: tests/reports/money_story.py): a
period's invoices, m³ and KES by category and by line kind, the estimated share, the 12-month
trend; downloads that equal the page; who may see it; another provider's view."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from meters.models import Meter
from reports.billed import period_billing, trend
from reports.figures import figures_fresh
from tests.billing_helpers import metered, read, travel
from tests.reports.money_story import STAFF, D, _run, as_, tell
from tests.reports.test_collections import _as_csv, _cell, _csv, _rows, _sheets

URL = "/dashboard/reports/billing/"


@pytest.fixture
def story(tenant) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    yield from tell()


def test_the_figures_are_the_hand_computed_ones(story) -> None:  # type: ignore[no-untyped-def]
    figures_fresh()
    october = period_billing("2026-10")
    assert [(c.name, c.invoices, c.consumption, c.total, c.estimated_invoices, c.estimated_consumption)
            for c in october.categories] == [
        ("Domestic", 2, D("23.167"), D("2276.68"), 1, D("5.167")),
        ("Commercial", 1, D("20.000"), D("2000.00"), 0, D("0.000"))]
    assert (october.invoices, october.consumption, october.total) == (3, D("43.167"), D("4276.68"))
    assert [(k.kind, k.label, k.lines, k.amount) for k in october.kinds] == [
        ("water", "Water", 4, D("2846.68")), ("fixed", "Fixed charge", 3, D("400.00")),
        ("penalty", "Late-payment penalty", 1, D("30.00")), ("fee", "Fee", 1, D("1000.00"))]
    assert october.lines_total == october.total
    invoices, m3 = october.shares
    assert (invoices.estimated, invoices.actual, invoices.total, invoices.ratio) == (D(1), D(2), D(3), D("0.3333"))
    assert (m3.estimated, m3.actual, m3.total, m3.ratio) == (D("5.167"), D("38.000"), D("43.167"), D("0.1197"))
    september = period_billing("2026-09")
    assert (september.invoices, september.total, september.consumption) == (2, D("800.00"), D("15.000"))
    assert [(k.kind, k.lines, k.amount) for k in september.kinds] == [("water", 2, D("600.00")), ("fixed", 2, D("200.00"))]
    assert september.shares[0].ratio == D("0.0000")
    months = trend("2026-10")
    assert len(months) == 12 and months[0].period == "2025-11" and months[-1].period == "2026-10"
    assert [(m.period, m.invoices, m.total, m.consumption) for m in months[-2:]] == [
        ("2026-09", 2, D("800.00"), D("15.000")), ("2026-10", 3, D("4276.68"), D("43.167"))]
    assert months[0].total == D("0.00") and months[0].consumption == D("0.000")
    assert period_billing("2026-11").shares[0].ratio is None  # nothing billed: no share


def test_the_page_shows_them(story) -> None:  # type: ignore[no-untyped-def]
    html = as_("anne@alpha.test").get(URL).content.decode()  # the latest billed period: October
    assert "Billing · October 2026" in html
    assert 'data-testid="billing-invoices">3<' in html and 'data-testid="billing-total">KES 4,276.68<' in html
    assert 'data-testid="billing-m3">43.167 m³<' in html
    assert _rows(html, "categories-table") == [["Domestic", "2", "23.167", "KES 2,276.68", "1", "5.167", ""],
                                               ["Commercial", "1", "20.000", "KES 2,000.00", "0", "0.000", ""]]
    assert _rows(html, "kinds-table") == [["Water", "4", "KES 2,846.68", ""], ["Fixed charge", "3", "KES 400.00", ""],
                                          ["Late-payment penalty", "1", "KES 30.00", ""], ["Fee", "1", "KES 1,000.00", ""]]
    assert 'data-testid="kinds-total">KES 4,276.68<' in html
    assert _rows(html, "estimates-table") == [["Invoices", "1", "2", "3", "33.3%"],
                                              ["Consumption (m³)", "5.167", "38.000", "43.167", "12.0%"]]
    trend_rows = _rows(html, "trend-table")
    assert len(trend_rows) == 12 and trend_rows[:2] == [["Oct 2026", "3", "KES 4,276.68", "43.167"],
                                                        ["Sep 2026", "2", "KES 800.00", "15.000"]]
    assert trend_rows[-1] == ["Nov 2025", "0", "KES 0.00", "0.000"]
    assert html.count('data-testid="money-chart"') == 2  # KES and m³, each with axes
    assert "<title>Oct 2026 · Billed: KES 4,276.68</title>" in html and "<title>Sep 2026 · Consumption billed: 15.000 m³</title>" in html
    # The picker lists the billed periods; September on its own.
    assert '<option value="2026-10" selected>October 2026</option>' in html
    assert '<option value="2026-09">September 2026</option>' in html
    september = as_("anne@alpha.test").get(URL, {"period": "2026-09"}).content.decode()
    assert "Billing · September 2026" in september and 'data-testid="billing-total">KES 800.00<' in september
    assert _rows(september, "trend-table")[0] == ["Sep 2026", "2", "KES 800.00", "15.000"]


def test_a_period_without_bills_says_so(story) -> None:  # type: ignore[no-untyped-def]
    html = as_("anne@alpha.test").get(URL, {"period": "2026-05"}).content.decode()
    assert "No bills issued for May 2026." in html and _rows(html, "estimates-table")[0] == ["Invoices", "0", "0", "0", "—"]


def test_a_true_up_credit_shows_as_its_kind(story) -> None:  # type: ignore[no-untyped-def]
    """Ben reads 6 on 30 Nov: 1 m³ actual since September against 5.167 estimated, so November
    bills no water and credits 4.167 m³ at the 40.00 the estimate was billed at: -166.68."""
    with travel("2026-12-01"):
        read(Meter.objects.get(client=story["ben"]), "6", "2026-11-30")
    _run("2026-11", "2026-12-02")
    figures_fresh()
    kinds = {k.kind: k for k in period_billing("2026-11").kinds}
    assert (kinds["estimate_credit"].label, kinds["estimate_credit"].amount) == ("Estimate correction", D("-166.68"))


def test_the_downloads_equal_the_page(story) -> None:  # type: ignore[no-untyped-def]
    http = as_("amos@alpha.test")
    categories = _csv(http.get(URL, {"export": "csv"}))
    assert categories == [["Category", "Invoices", "Consumption (m³)", "Billed (KES)", "Estimated invoices",
                           "Estimated consumption (m³)"],
                          ["Domestic", "2", "23.167", "2276.68", "1", "5.167"],
                          ["Commercial", "1", "20.000", "2000.00", "0", "0.000"]]
    kinds = _csv(http.get(URL, {"export": "csv", "table": "kinds"}))
    assert kinds == [["Line kind", "Lines", "Amount (KES)"], ["Water", "4", "2846.68"], ["Fixed charge", "3", "400.00"],
                     ["Late-payment penalty", "1", "30.00"], ["Fee", "1", "1000.00"]]
    estimates = _csv(http.get(URL, {"export": "csv", "table": "estimates"}))
    assert estimates == [["Basis", "Estimated", "Actual", "Total", "Estimated share (%)"],
                         ["Invoices", "1", "2", "3", "33.3"], ["Consumption (m³)", "5.167", "38.000", "43.167", "12.0"]]
    months = _csv(http.get(URL, {"export": "csv", "table": "trend", "period": "2026-09"}))
    assert len(months) == 13 and months[-1] == ["2026-09", "2", "800.00", "15.000"] and months[1][0] == "2025-10"
    response = http.get(URL, {"export": "xlsx"})
    assert response["Content-Disposition"].startswith('attachment; filename="billing-2026-10-')
    sheets = _sheets(response)
    assert list(sheets) == ["By category", "By line kind", "Estimated vs actual", "12-month trend"]
    assert sheets["By category"][1] == ("Domestic", 2, 23.167, 2276.68, 1, 5.167)
    for table, title in (("categories", "By category"), ("kinds", "By line kind"), ("estimates", "Estimated vs actual"),
                         ("trend", "12-month trend")):
        rows = _csv(http.get(URL, {"export": "csv", "table": table}))
        assert [[_cell(v) for v in r] for r in sheets[title]] == [[_cell(v) for v in r] for r in rows], table
    # The page's tables are the downloads' (the trend newest first on the page).
    page = http.get(URL).content.decode()
    assert [[_as_csv(c) for c in r[:6]] for r in _rows(page, "categories-table")] == categories[1:]
    assert [[_as_csv(c) for c in r[:3]] for r in _rows(page, "kinds-table")] == kinds[1:]
    assert [[_as_csv(c) for c in r] for r in _rows(page, "estimates-table")] == estimates[1:]
    trend_csv = _csv(http.get(URL, {"export": "csv", "table": "trend"}))
    assert [[_as_csv(c) for c in r] for r in reversed(_rows(page, "trend-table"))] == trend_csv[1:]


@pytest.mark.parametrize("persona", STAFF)
def test_owner_manager_and_accountant_open_it(story, persona: str) -> None:  # type: ignore[no-untyped-def]
    http = as_(persona)
    assert http.get(URL).status_code == 200
    assert http.get(URL, {"export": "csv"}).status_code == 200


@pytest.mark.parametrize("persona", ["ari@alpha.test", "carol@alpha.test"])
def test_others_are_refused(story, persona: str) -> None:  # type: ignore[no-untyped-def]
    http = as_(persona)
    assert http.get(URL).status_code == 403
    assert http.get(URL, {"export": "xlsx"}).status_code == 403


def test_beta_never_sees_alphas_bills(story, beta) -> None:  # type: ignore[no-untyped-def]
    from tests.billing_helpers import domestic_tariff

    with tenant_context(beta):
        domestic_tariff()
        client, meter = metered("Beta Client")
        read(meter, "0", "2026-08-31")
        read(meter, "7", "2026-09-30")  # 280 + 100 = 380.00
        _run("2026-09", "2026-10-02")
    connection.set_schema_to_public()
    bob = as_("bob@beta.test", "beta").get(URL).content.decode()
    assert "Billing · September 2026" in bob and 'data-testid="billing-total">KES 380.00<' in bob
    assert "4,276.68" not in bob and "Commercial" not in bob and "800.00" not in bob
    alice = as_("alice@alpha.test").get(URL, {"period": "2026-09"}).content.decode()
    assert "380.00" not in alice and 'data-testid="billing-total">KES 800.00<' in alice


def test_the_page_has_a_pinned_query_count(story, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    http = as_("anne@alpha.test")
    http.get(URL)  # warm: the figures, the session
    # The session, the user, freshness, the latest period, by category, by kind, the trend, the
    # picker's periods and the connection's own three (provider, search path).
    with django_assert_num_queries(11):
        assert http.get(URL).status_code == 200
    with django_assert_num_queries(10):  # a period asked for: no latest period to look up
        assert http.get(URL, {"period": "2026-09"}).status_code == 200
