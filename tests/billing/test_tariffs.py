"""Tariff maths (with properties checked by hypothesis), versions, the API and the pages."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client as Http
from django.utils import timezone
from django_tenants.utils import tenant_context
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.models import Tariff
from billing.selectors import tariff_in_force, terms_of
from billing.services import MSG_BLOCK_LAST_OPEN, MSG_BLOCKS_ORDER, clean_tariff, tariff_create
from billing.tariffs import Band, TariffTerms, charge_for, money
from clients.models import Category
from tests.conftest import login

ISSUE_EXAMPLE = TariffTerms(bands=[Band(Decimal(10), Decimal("40.00")), Band(Decimal(30), Decimal("55.00")),
                                   Band(None, Decimal("70.00"))])


def test_the_issues_example_35_m3_costs_1850() -> None:
    bill = charge_for(ISSUE_EXAMPLE, Decimal(35))
    assert [ln.amount for ln in bill.lines] == [Decimal("400.00"), Decimal("1100.00"), Decimal("350.00")]
    assert bill.total == Decimal("1850.00")


def test_minimum_sewerage_fixed_and_rent_lines() -> None:
    terms = TariffTerms(bands=ISSUE_EXAMPLE.bands, fixed_charge=Decimal("100"), meter_rent=Decimal("50"),
                        sewerage_percent=Decimal("75"), minimum_charge=Decimal("330"))
    small = charge_for(terms, Decimal("3"))  # 3 x 40 = 120 < 330 minimum
    kinds = {ln.kind: ln.amount for ln in small.lines}
    assert kinds == {"water": Decimal("120.00"), "minimum": Decimal("210.00"), "sewerage": Decimal("247.50"),
                     "fixed": Decimal("100.00"), "meter_rent": Decimal("50.00")}
    assert small.total == Decimal("727.50")
    assert charge_for(terms, Decimal(0)).volumetric == Decimal("330.00")


def test_lines_round_half_up_to_cents() -> None:
    terms = TariffTerms(bands=[Band(None, Decimal("33.33"))], sewerage_percent=Decimal("12.5"))
    bill = charge_for(terms, Decimal("1.125"))  # 37.49625 -> 37.50; sewerage 4.6875 -> 4.69
    assert [ln.amount for ln in bill.lines] == [Decimal("37.50"), Decimal("4.69")]


prices = st.decimals(min_value=0, max_value=500, places=2)
volumes = st.decimals(min_value=0, max_value=5000, places=3)


@st.composite
def tariffs(draw):  # type: ignore[no-untyped-def]
    limits = sorted(draw(st.sets(st.integers(min_value=1, max_value=1000), min_size=0, max_size=5)))
    # increasing block prices, as WASREB tariffs are
    raw = sorted(draw(st.lists(prices, min_size=len(limits) + 1, max_size=len(limits) + 1)))
    bands = [Band(Decimal(limit), price) for limit, price in zip(limits, raw, strict=False)] + [Band(None, raw[-1])]
    return TariffTerms(bands=bands, fixed_charge=draw(prices), meter_rent=draw(prices),
                       sewerage_percent=draw(st.decimals(min_value=0, max_value=100, places=2)),
                       minimum_charge=draw(prices))


@settings(max_examples=300, deadline=None)
@given(terms=tariffs(), a=volumes, b=volumes)
def test_the_bill_never_falls_as_volume_grows(terms: TariffTerms, a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    assert charge_for(terms, low).total <= charge_for(terms, high).total


@settings(max_examples=300, deadline=None)
@given(terms=tariffs(), volume=volumes)
def test_the_water_charge_is_the_band_by_band_sum_and_the_rest_as_stated(terms: TariffTerms, volume: Decimal) -> None:
    bill = charge_for(terms, volume)
    expected_water, lower = Decimal("0.00"), Decimal(0)
    for band in terms.bands:
        top = volume if band.up_to is None else min(volume, band.up_to)
        if top > lower:
            expected_water += money((top - lower) * band.price)
        if band.up_to is None or volume <= band.up_to:
            break
        lower = band.up_to
    water = sum((ln.amount for ln in bill.lines if ln.kind == "water"), Decimal("0.00"))
    assert water == expected_water
    assert bill.volumetric == max(water, money(terms.minimum_charge))  # the minimum is a floor
    sewerage = sum((ln.amount for ln in bill.lines if ln.kind == "sewerage"), Decimal("0.00"))
    assert sewerage == money(bill.volumetric * terms.sewerage_percent / 100)
    assert bill.total == sum((ln.amount for ln in bill.lines), Decimal("0.00"))
    assert all(ln.amount == money(ln.amount) for ln in bill.lines)


def _blocks(*pairs: tuple[object, object]) -> list[dict[str, object]]:
    return [{"up_to": u, "price": p} for u, p in pairs]


def test_versions_take_over_on_their_date(alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        domestic = Category.objects.get(code="domestic")
        for day, price in ((date(2025, 1, 1), "50"), (date(2026, 7, 1), "60")):
            cleaned, errors = clean_tariff({"code": "dom", "name": "Domestic", "category": "domestic",
                                            "effective_from": day.isoformat(), "blocks": _blocks((None, price))})
            assert errors == {}
            tariff_create(actor="t", **cleaned)
        assert tariff_in_force(domestic.pk, date(2026, 6, 30)).effective_from == date(2025, 1, 1)
        assert tariff_in_force(domestic.pk, date(2026, 7, 31)).effective_from == date(2026, 7, 1)
        assert tariff_in_force(domestic.pk, date(2024, 12, 31)) is None
        assert terms_of(tariff_in_force(domestic.pk, date(2026, 7, 31))).bands[0].price == Decimal("60.00")


@pytest.mark.parametrize(("blocks", "message"), [
    ([], "Give at least one block; the last one has no upper limit."),
    (_blocks((10, "40"), (5, "55"), (None, "70")), MSG_BLOCKS_ORDER),
    (_blocks((10, "40"), (30, "55")), MSG_BLOCK_LAST_OPEN),
    (_blocks((None, "40"), (None, "55")), MSG_BLOCKS_ORDER),
    (_blocks((None, "-1")), "Enter an amount in KES with at most 2 decimals, not negative."),
])
def test_bad_blocks_are_refused(alpha, blocks: list, message: str) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        _cleaned, errors = clean_tariff({"code": "x", "name": "X", "category": "domestic", "blocks": blocks})
    assert message in errors["blocks"]


def test_the_tariffs_api(alpha_api, beta_api) -> None:  # type: ignore[no-untyped-def]
    body = {"code": "dom-2026", "name": "Domestic 2026", "category": "domestic", "effective_from": "2026-01-01",
            "fixed_charge": "100.00", "meter_rent": "50.00", "sewerage_percent": "75.00", "minimum_charge": "330.00",
            "blocks": [{"up_to": "10", "price": "40.00"}, {"up_to": "30", "price": "55.00"}, {"up_to": None, "price": "70.00"}]}
    created = alpha_api.post("/api/v1/tariffs/", body, format="json")
    assert created.status_code == 201, created.json()
    out = created.json()
    assert out["blocks"] == [{"up_to": "10.000", "price": "40.00"}, {"up_to": "30.000", "price": "55.00"},
                             {"up_to": None, "price": "70.00"}]
    assert out["sewerage_percent"] == "75.00" and out["category"] == "domestic"
    again = alpha_api.post("/api/v1/tariffs/", body, format="json")
    assert again.status_code == 400 and "effective_from" in again.json()
    assert alpha_api.get("/api/v1/tariffs/").json()["count"] == 1
    assert beta_api.get("/api/v1/tariffs/").json()["count"] == 0  # another provider's tariffs are not there
    default_day = alpha_api.post("/api/v1/tariffs/", {**body, "effective_from": None, "code": "k", "category": "kiosk"},
                                 format="json")
    assert default_day.status_code == 201 and default_day.json()["effective_from"] == timezone.localdate().isoformat()


def test_tariff_pages_and_the_calculator(alpha) -> None:  # type: ignore[no-untyped-def]
    manager = Http(HTTP_HOST="alpha.majismart.localhost")
    login(manager, "amos@alpha.test")
    form = {"code": "com", "name": "Commercial", "category": "commercial", "effective_from": "2026-01-01",
            "fixed_charge": "0", "meter_rent": "0", "sewerage_percent": "0", "minimum_charge": "0",
            "up_to_0": "10", "price_0": "40", "up_to_1": "30", "price_1": "55", "price_2": "70"}
    bad = manager.post("/dashboard/billing/tariffs/new/", {**form, "up_to_2": "20"})
    assert bad.status_code == 400 and MSG_BLOCK_LAST_OPEN.encode() in bad.content
    saved = manager.post("/dashboard/billing/tariffs/new/", form)
    assert saved.status_code == 302
    calc = manager.get(saved.url + "?volume=35")
    assert b'data-testid="bill-total">KES 1,850.00<' in calc.content
    assert manager.get(saved.url + "?volume=-3").status_code == 400
    assert b"Commercial" in manager.get("/dashboard/billing/tariffs/").content
    accountant = Http(HTTP_HOST="alpha.majismart.localhost")
    login(accountant, "anne@alpha.test")
    assert accountant.get(saved.url).status_code == 200
    assert accountant.post("/dashboard/billing/tariffs/new/", form).status_code == 403
    reader = Http(HTTP_HOST="alpha.majismart.localhost")
    login(reader, "ari@alpha.test")
    assert reader.get("/dashboard/billing/tariffs/").status_code == 403
    bob = Http(HTTP_HOST="beta.majismart.localhost")
    login(bob, "bob@beta.test")
    assert bob.get(saved.url).status_code == 404
    with tenant_context(alpha):
        assert Tariff.objects.get(code="com").blocks.count() == 3
    connection.set_schema_to_public()
