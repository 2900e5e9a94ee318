"""The report figures (reports.refresh makes them, reports.figures reads them) and
`GET /reports/summary/` (shared/API.md), with hand-computed figures, and the proof that the kept
figures equal the ledger, invoices and payments after any mix of bills, payments, reversals,
refunds, credit notes, charges, write-offs and a retention purge.

The story is the dashboard home's (tests/web/test_home.py): seen on 10 Nov 2026, October billed
1,440.00 (Ann 940, Ben 500; 28 m³), collected in October 850.00 (Ann 500, Ben 100 at 23:30 Nairobi on
31 Oct, 250 unmatched), efficiency 0.5903; Ann owes 540.00 on October's bill (due 16 Nov: not yet
due), Ben 700.00 with September's bill (due 16 Oct) unpaid: 25 days past due."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from django_tenants.utils import tenant_context

from arrears.selectors import oldest_unpaid_due
from billing.models import Invoice, InvoiceLine, LedgerEntry
from billing.selectors import balance_of_client
from clients.models import Client
from payments.models import Payment
from reports.figures import aging, figures_fresh
from reports.models import BilledCell, BilledLine, PaymentDay, Position, Refresh, Stale
from reports.refresh import figures_refresh
from tests.billing_helpers import travel
from tests.conftest import host_of, login
from tests.web.test_home import TODAY, paid

NBO = ZoneInfo("Africa/Nairobi")
D = Decimal
URL = "/api/v1/reports/summary/"


# --- the summary, by hand -------------------------------------------------------------------------
def test_the_summary_of_a_period_is_the_hand_computed_one(story, alpha_api) -> None:  # type: ignore[no-untyped-def]
    with travel(TODAY):
        october = alpha_api.get(URL, {"period": "2026-10"})
        september = alpha_api.get(URL, {"period": "2026-09"})
        december = alpha_api.get(URL, {"period": "2026-12"})
        latest = alpha_api.get(URL)
    assert october.status_code == 200, october.content
    body = october.json()
    assert body.pop("figures_as_of")
    assert body == {"period": "2026-10", "billed": "1440.00", "collected": "850.00", "collection_efficiency": "0.5903",
                    "arrears": "1240.00",
                    "aging": {"current": "540.00", "1-30": "700.00", "31-60": "0.00", "61-90": "0.00", "90+": "0.00"},
                    "invoices": 2, "consumption": "28.000"}
    # September: 800.00 billed (Ann 500, Ben 300; 15 m³), nothing paid in September.
    assert {k: september.json()[k] for k in ("billed", "collected", "collection_efficiency", "invoices", "consumption")} == {
        "billed": "800.00", "collected": "0.00", "collection_efficiency": "0.0000", "invoices": 2, "consumption": "15.000"}
    # Nothing billed for December: no efficiency (null), arrears as today.
    assert (december.json()["billed"], december.json()["collection_efficiency"], december.json()["arrears"]) == (
        "0.00", None, "1240.00")
    assert latest.json()["period"] == "2026-10"  # without a period: the latest one billed


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "october", "2026-10-01", "0000-00"])
def test_a_period_not_yyyy_mm_is_a_400_naming_the_field(alpha_api, period: str) -> None:  # type: ignore[no-untyped-def]
    response = alpha_api.get(URL, {"period": period})
    assert response.status_code == 400 and response.json() == {"period": ["Give the period as YYYY-MM, e.g. 2026-11."]}


@pytest.mark.parametrize(("persona", "status"), [("alice@alpha.test", 200), ("amos@alpha.test", 200),
                                                 ("anne@alpha.test", 200), ("ari@alpha.test", 403),
                                                 ("carol@alpha.test", 403)])
def test_the_summary_is_for_owner_manager_and_accountant(story, persona: str, status: int) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client as Http

    http = Http(HTTP_HOST=host_of("alpha"))
    login(http, persona)
    assert http.get(URL, {"period": "2026-10"}).status_code == status
    assert Http(HTTP_HOST=host_of("alpha")).get(URL).status_code in (401, 403)


def test_another_provider_gets_its_own_figures_only(story, beta, beta_api, alpha_api) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(beta):
        paid(None, "7777.00", datetime(2026, 10, 5, 9, tzinfo=NBO), "BETA0001")
    connection.set_schema_to_public()
    with travel(TODAY):
        body = beta_api.get(URL, {"period": "2026-10"}).json()
        mine = alpha_api.get(URL, {"period": "2026-10"}).json()
    assert (body["billed"], body["collected"], body["arrears"], body["invoices"]) == ("0.00", "7777.00", "0.00", 0)
    assert (mine["collected"], mine["arrears"]) == ("850.00", "1240.00")  # alpha's own, without beta's 7,777


# --- out of date, and brought up to date ----------------------------------------------------------
def test_a_write_marks_the_figures_out_of_date_in_its_own_transaction(story) -> None:  # type: ignore[no-untyped-def]
    figures_fresh()
    assert not Stale.objects.exists()
    try:
        with transaction.atomic():
            paid(story["ann"], "10.00", datetime(2026, 11, 5, 9, tzinfo=NBO), "ANNROLLBACK")
            assert Stale.objects.exists()  # the trigger, in the writing transaction
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert not Stale.objects.exists()  # nothing was written, nothing is out of date
    paid(story["ann"], "10.00", datetime(2026, 11, 5, 9, tzinfo=NBO), "ANN0003")
    assert Stale.objects.exists()
    assert aging()["current"].amount == D("540.00")  # still the figures as made before the payment
    assert figures_fresh().stale is False and aging()["current"].amount == D("530.00")


def test_a_slow_provider_is_refreshed_by_a_job_and_the_page_says_how_old(story, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    before = figures_fresh()
    Refresh.objects.filter(pk=1).update(seconds=12.5)  # as a 100,000-client provider's refresh
    paid(story["ann"], "40.00", datetime(2026, 11, 5, 9, tzinfo=NBO), "ANN0004")
    with django_capture_on_commit_callbacks() as queued:
        shown = figures_fresh()
    assert shown.stale is True and shown.refreshed_at == before.refreshed_at
    assert aging()["current"].amount == D("540.00")  # the page shows the figures it has, with their time
    assert len(queued) == 1  # the refresh job, queued once
    with django_capture_on_commit_callbacks() as again:
        assert figures_fresh().stale is True
    assert again == []  # not queued a second time while the first waits
    queued[0]()  # the worker runs it (eager here)
    assert figures_fresh().stale is False and aging()["current"].amount == D("500.00")


def test_the_home_and_the_api_say_the_same(story, alpha_api) -> None:  # type: ignore[no-untyped-def]
    from tests.web.test_home import as_

    with travel(TODAY):
        html = as_("anne@alpha.test").get("/dashboard/").content.decode()
        body = alpha_api.get(URL, {"period": "2026-10"}).json()
    assert 'data-testid="kpi-owed">KES 1,240.00<' in html and body["arrears"] == "1240.00"
    assert 'data-testid="kpi-billed">KES 1,440.00<' in html and body["billed"] == "1440.00"
    assert 'data-testid="kpi-collected">KES 850.00<' in html and body["collected"] == "850.00"


# --- the kept figures equal the ledger --------------------------------------------------------------
def _ledger_truth() -> dict[str, object]:
    """The figures computed straight from the ledger, invoices and payments, in Python where it
    can be (not with the refresh's SQL)."""
    balances: dict[int, Decimal] = defaultdict(Decimal)
    for client_id, amount in LedgerEntry.objects.values_list("client_id", "amount"):
        balances[client_id] += amount
    owing = {c: b for c, b in balances.items() if b > 0}
    oldest = dict(Client.objects.filter(pk__in=owing).annotate(balance=balance_of_client())
                  .annotate(oldest=oldest_unpaid_due()).values_list("pk", "oldest"))
    billed: dict[str, Decimal] = defaultdict(Decimal)
    for period, total in Invoice.objects.filter(status="issued").values_list("period", "total"):
        billed[period] += total
    lines: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for period, kind, amount in InvoiceLine.objects.filter(invoice__status="issued").values_list(
            "invoice__period", "kind", "amount"):
        lines[(period, kind)] += amount
    collected: dict[str, Decimal] = defaultdict(Decimal)
    for paid_at, amount in Payment.objects.filter(status__in=("matched", "unmatched")).values_list("paid_at", "amount"):
        collected[paid_at.astimezone(NBO).strftime("%Y-%m")] += amount
    return {"positions": {c: (b, oldest[c]) for c, b in owing.items()}, "billed": dict(billed), "lines": dict(lines),
            "collected": dict(collected)}


def _kept() -> dict[str, object]:
    billed = {r["period"]: r["t"] for r in BilledCell.objects.values("period").annotate(t=Sum("total"))}
    lines = {(r["period"], r["kind"]): r["t"] for r in BilledLine.objects.values("period", "kind").annotate(t=Sum("amount"))}
    collected: dict[str, Decimal] = defaultdict(Decimal)
    for day, amount in PaymentDay.objects.filter(status__in=("matched", "unmatched")).values_list("day", "amount"):
        collected[day.strftime("%Y-%m")] += amount
    return {"positions": {p.client_id: (p.balance, p.oldest_due) for p in Position.objects.all()}, "billed": billed,
            "lines": lines, "collected": dict(collected)}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_kept_figures_equal_the_ledger_after_any_mix(story, seed: int) -> None:  # type: ignore[no-untyped-def]
    from billing.fees import fee_charge, fee_create
    from billing.services import credit_note_create
    from billing.write_offs import write_off_post
    from payments.services import payment_mark_refunded, payment_reverse

    rng = random.Random(seed)  # noqa: S311 - a repeatable mix, not a secret
    clients = [story["ann"], story["ben"]]
    fee_create(code="recon", name="Reconnection", amount=D("500.00"), kind="fee", actor="test")
    moments = [datetime(2026, 10, 31, 23, 59, tzinfo=NBO), datetime(2026, 11, 1, 0, 1, tzinfo=NBO),
               datetime(2026, 11, 9, 12, tzinfo=NBO)]
    n = 0

    def pay() -> None:
        nonlocal n
        n += 1
        paid(rng.choice(clients + [None]), f"{rng.randint(1, 600)}.{rng.randint(0, 99):02d}", rng.choice(moments),
             f"MIX{seed}{n:03d}")

    def reverse() -> None:
        p = Payment.objects.filter(status="matched").order_by("?").first()
        if p:
            payment_reverse(payment=p, reason="recorded twice", actor="test")

    def refund() -> None:
        p = Payment.objects.filter(status="unmatched").order_by("?").first()
        if p:
            payment_mark_refunded(payment=p, reason="M-Pesa reversal", actor="test")

    def credit() -> None:
        inv = Invoice.objects.filter(status="issued").order_by("?").first()
        credit_note_create(invoice=inv, amount="25.00", reason="Leak allowance agreed", actor="test")

    def charge() -> None:
        fee_charge(client=rng.choice(clients), code="recon", note="reconnected", actor="test")

    def write() -> None:  # the ledger side of a write-off (arrears.services.write_off needs a closed account)
        write_off_post(client=rng.choice(clients), reason="Gone away, untraceable", actor="test")

    operations = [pay, pay, pay, reverse, refund, credit, charge, write]
    with travel(TODAY):
        for _ in range(10):
            rng.choice(operations)()
            assert figures_fresh().stale is False
            assert _kept() == _ledger_truth()


def test_the_kept_figures_follow_a_retention_purge(story) -> None:  # type: ignore[no-untyped-def]
    from privacy.models import RetentionPolicy
    from privacy.retention import retention_apply

    figures_fresh()
    before = _kept()
    assert before["billed"] == {"2026-09": D("800.00"), "2026-10": D("1440.00")}
    # Eight years on, billing records past the 7-year retention go; balances are carried forward.
    policy = RetentionPolicy.load()
    later = datetime(2034, 12, 1, 9, tzinfo=NBO)
    with travel("2034-12-01"):
        retention_apply(now=later, policy=None)
        assert figures_fresh().stale is False
        kept = _kept()
    assert kept == _ledger_truth()
    assert "2026-09" not in kept["billed"] and policy.pk
    # What clients owe did not change with the purge: the balance brought forward keeps it.
    assert {c: b for c, (b, _) in kept["positions"].items()} == {c: b for c, (b, _) in before["positions"].items()}


def test_a_refresh_that_fails_leaves_the_figures_marked_out_of_date(story, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import reports.refresh as refresh

    figures_fresh()
    paid(story["ann"], "5.00", datetime(2026, 11, 5, 9, tzinfo=NBO), "ANN0005")

    def broken() -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(refresh, "_payments", broken)
    with pytest.raises(RuntimeError):
        figures_refresh()
    assert Stale.objects.exists()
    monkeypatch.undo()
    assert figures_refresh() is not None and not Stale.objects.exists()


def test_the_aging_buckets_turn_with_the_days(story) -> None:  # type: ignore[no-untyped-def]
    figures_fresh()
    ages = {day: [(b.name, b.amount) for b in aging(today=date.fromisoformat(day)).buckets if b.amount]
            for day in ("2026-10-16", "2026-10-17", "2026-11-15", "2026-11-16", "2026-11-17", "2027-01-15",
                        "2027-01-16")}
    assert ages["2026-10-16"] == [("current", D("1240.00"))]  # Ben's September bill is due today: not yet past due
    assert ages["2026-10-17"] == [("current", D("540.00")), ("1-30", D("700.00"))]
    assert ages["2026-11-15"] == [("current", D("540.00")), ("1-30", D("700.00"))]  # Ben: 30 days
    assert ages["2026-11-16"] == [("current", D("540.00")), ("31-60", D("700.00"))]  # Ben: 31 days; Ann due today
    assert ages["2026-11-17"] == [("1-30", D("540.00")), ("31-60", D("700.00"))]
    assert ages["2027-01-15"] == [("31-60", D("540.00")), ("90+", D("700.00"))]  # Ann 60, Ben 91
    assert ages["2027-01-16"] == [("61-90", D("540.00")), ("90+", D("700.00"))]  # Ann 61
    assert timedelta(days=91) == date(2027, 1, 15) - date(2026, 10, 16)
