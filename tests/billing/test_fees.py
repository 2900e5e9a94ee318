"""Fees and deposits (issue 19): the catalogue, charges in the ledger at once and on the next bill
(or a bill of their own), their reversal, deposits held and settled at closure. Figures by hand
under the `tenant` fixture's domestic tariff (≤10 m³ @ 40, ≤30 @ 55, above @ 70; fixed 100)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client as Http
from django_tenants.utils import tenant_context

from billing.documents import invoice_pdf
from billing.fees import (
    charge_reverse,
    deposit_held,
    deposits_held,
    fee_charge,
    fee_create,
    fee_update,
)
from billing.models import Charge, CreditNote, Fee, Invoice, LedgerEntry
from billing.runs import billing_run_finalize, billing_run_start
from billing.selectors import client_balance, invoices_with_dues
from clients.models import Client
from payments.models import Payment
from payments.services import account_close, payment_record
from tests.billing_helpers import billed_twice, invoice_of, lines_of, metered, on, read, travel
from tests.conftest import api_client, host_of, login

D = Decimal


def _catalogue() -> None:
    fee_create(actor="test", code="meter-test", name="Meter test fee", amount=D("500.00"), kind="fee")
    fee_create(actor="test", code="reconnection", name="Reconnection fee", amount=D("1000.00"), kind="fee")
    fee_create(actor="test", code="deposit", name="Water deposit", amount=D("2000.00"), kind="deposit")


def _pay(client: Client, amount: str, receipt: str, day: str) -> None:
    payment_record(method="cash", receipt=receipt, amount=D(amount), paid_at=on(day, 11), client=client, actor="test")


def _run(period: str, day: str) -> None:
    with travel(day):
        billing_run_finalize(run=billing_run_start(period=period)[0])


def _read_to_september(name: str):  # type: ignore[no-untyped-def]
    """A metered client read 0 on 31 Aug and 10 on 30 Sep: September's water is 500.00."""
    client, meter = metered(name)
    read(meter, "0", "2026-08-31")
    read(meter, "10", "2026-09-30")
    return client, meter


def _number(invoice: Invoice) -> int:
    match = re.match(r"^INV-2026-(\d+)$", invoice.number or "")
    assert match, invoice.number
    return int(match.group(1))


# --- charges on the next bill -------------------------------------------------------------------
def test_a_charge_is_in_the_balance_at_once_and_on_the_next_bill_once(tenant) -> None:  # type: ignore[no-untyped-def]
    _catalogue()
    client, meter = _read_to_september("Fee Client")
    read(meter, "28", "2026-10-31")
    with travel("2026-09-15"):
        charge = fee_charge(client=client, code="meter-test", note="Client asked", actor="test")
    assert (charge.kind, charge.amount, charge.invoice) == ("fee", D("500.00"), None)
    assert client_balance(client.pk) == D("500.00")  # in the balance the moment it is made
    _run("2026-09", "2026-10-02")
    september = invoice_of(client, "2026-09")
    # 10 m³ @ 40 = 400 + fixed 100 = 500 of water; the fee its own line: the bill is 1000.00 ...
    assert lines_of(september) == [("water", D("400.00")), ("fixed", D("100.00")), ("fee", D("500.00"))]
    assert september.total == D("1000.00")
    # ... but the ledger holds the fee once: its own entry (500) and the bill's water (500).
    kinds = list(LedgerEntry.objects.filter(client=client).order_by("id").values_list("kind", "amount"))
    assert kinds == [("fee", D("500.00")), ("invoice", D("500.00"))]
    assert client_balance(client.pk) == D("1000.00")
    charge.refresh_from_db()
    assert charge.invoice_id == september.pk
    # October: 18 m³ = 10 @ 40 + 8 @ 55 = 840 + 100 = 940, and no fee again.
    _run("2026-10", "2026-11-02")
    october = invoice_of(client, "2026-10")
    assert "fee" not in [k for k, _ in lines_of(october)] and october.total == D("940.00")
    assert client_balance(client.pk) == D("1940.00")
    # The bills' dues agree with the ledger: nothing paid, both owed in full.
    dues = {i.period: i.balance_due for i in invoices_with_dues(Invoice.objects.filter(client=client))}
    assert dues == {"2026-09": D("1000.00"), "2026-10": D("940.00")}


def test_a_charge_not_yet_billed_is_not_overdue_for_the_penalty(tenant) -> None:  # type: ignore[no-untyped-def]
    from billing.models import BillingSettings

    BillingSettings.objects.filter(pk=BillingSettings.load().pk).update(penalty_percent=D("10.00"))
    _catalogue()
    client, meter = _read_to_september("Penalty Client")
    with travel("2026-10-20"):
        fee_charge(client=client, code="reconnection", actor="test")
    _run("2026-09", "2026-10-21")
    assert "penalty" not in [k for k, _ in lines_of(invoice_of(client, "2026-09"))]


# --- billed now -----------------------------------------------------------------------------------
def test_bill_now_issues_a_one_off_invoice_with_the_next_gapless_number(tenant) -> None:  # type: ignore[no-untyped-def]
    _catalogue()
    client = billed_twice("One-off Client")  # September 500.00, October 940.00
    last = max(_number(i) for i in Invoice.objects.filter(status="issued"))
    with travel("2026-11-10"):
        first = fee_charge(client=client, code="meter-test", bill_now=True, actor="test")
        second = fee_charge(client=client, code="reconnection", amount="1,250.50", bill_now=True, actor="test")
    assert (_number(first.invoice), _number(second.invoice)) == (last + 1, last + 2)
    one_off = second.invoice
    assert (one_off.run_id, one_off.tariff_id, one_off.status, one_off.total) == (None, None, "issued", D("1250.50"))
    assert one_off.issued_on.isoformat() == "2026-11-10" and one_off.due_date.isoformat() == "2026-11-24"
    assert lines_of(one_off) == [("fee", D("1250.50"))]
    # Its ledger entry is the charge's own (the invoice's number as reference), once.
    entry = LedgerEntry.objects.get(invoice=one_off)
    assert (entry.kind, entry.amount, entry.reference) == ("fee", D("1250.50"), one_off.number)
    assert client_balance(client.pk) == D("500.00") + D("940.00") + D("500.00") + D("1250.50")
    assert invoice_pdf(one_off)[:4] == b"%PDF"
    # The next run numbers on from there and leaves the billed charges off its bill.
    read(client.meters.first(), "30", "2026-11-20")
    _run("2026-11", "2026-12-02")
    november = Invoice.objects.get(client=client, run__period="2026-11")
    assert [k for k, _ in lines_of(november)] == ["water", "fixed"]
    assert min(_number(i) for i in Invoice.objects.filter(run__period="2026-11")) == last + 3


# --- reversal --------------------------------------------------------------------------------------
def test_a_billed_charge_is_reversed_by_a_credit_note_on_its_bill(tenant) -> None:  # type: ignore[no-untyped-def]
    _catalogue()
    client = billed_twice("Credit Client")
    with travel("2026-11-10"):
        charge = fee_charge(client=client, code="reconnection", bill_now=True, actor="test")
        entry = charge_reverse(charge=charge, reason="Charged in error", actor="test")
    note = CreditNote.objects.get(invoice=charge.invoice)
    assert (note.amount, entry.kind, entry.amount) == (D("1000.00"), "credit_note", D("-1000.00"))
    assert client_balance(client.pk) == D("1440.00")
    assert invoices_with_dues(Invoice.objects.filter(pk=charge.invoice_id)).get().state == "void"


def test_an_unbilled_charge_is_reversed_by_an_entry_and_never_billed(tenant) -> None:  # type: ignore[no-untyped-def]
    _catalogue()
    client, meter = _read_to_september("Reversed Client")
    with travel("2026-09-15"):
        charge = fee_charge(client=client, code="meter-test", actor="test")
        entry = charge_reverse(charge=charge, reason="Wrong client", actor="test")
        assert (entry.kind, entry.amount, entry.reverses_id) == ("reversal", D("-500.00"), charge.ledger_entry_id)
        with pytest.raises(ValidationError, match="already been reversed"):
            charge_reverse(charge=charge, reason="Again", actor="test")
    _run("2026-09", "2026-10-02")
    assert lines_of(invoice_of(client, "2026-09")) == [("water", D("400.00")), ("fixed", D("100.00"))]
    assert client_balance(client.pk) == D("500.00")
    charge.refresh_from_db()
    assert charge.invoice_id is None


# --- deposits -----------------------------------------------------------------------------------------
def test_a_paid_deposit_is_held_and_never_spent_on_water_then_settled_at_closure(tenant, alpha) -> None:  # type: ignore[no-untyped-def]
    _catalogue()
    client, meter = _read_to_september("Deposit Client")
    with travel("2026-09-01"):
        fee_charge(client=client, code="deposit", bill_now=True, actor="test")
    assert (client_balance(client.pk), deposit_held(client.pk)) == (D("2000.00"), D("0.00"))
    _pay(client, "500.00", "DEP-1", "2026-09-02")
    assert deposit_held(client.pk) == D("500.00")  # partly paid: held as far as paid
    _pay(client, "1500.00", "DEP-2", "2026-09-03")
    assert (client_balance(client.pk), deposit_held(client.pk)) == (D("0.00"), D("2000.00"))
    # September's water bill (500.00) comes: it is owed, the deposit is not spent on it.
    _run("2026-09", "2026-10-02")
    assert client_balance(client.pk) == D("500.00") and deposit_held(client.pk) == D("2000.00")
    september = invoices_with_dues(Invoice.objects.filter(client=client, run__isnull=False)).get()
    assert september.balance_due == D("500.00")
    _pay(client, "300.00", "WAT-1", "2026-10-05")
    assert (client_balance(client.pk), deposit_held(client.pk)) == (D("200.00"), D("2000.00"))
    # Closure: the 2000.00 held pays the 200.00 owed and the 1800.00 left is refunded.
    with travel("2026-10-20"):
        closed = account_close(client=client, actor="test", refund_method="mpesa", refund_reference="RFD123")
    assert (closed.deposit_applied, closed.balance) == (D("2000.00"), D("0.00"))
    assert closed.refund is not None
    refund = Payment.objects.get(pk=closed.refund.pk)
    assert (refund.amount, refund.status, refund.method, refund.receipt) == (D("1800.00"), "refunded", "mpesa", "RFD123")
    tail = list(LedgerEntry.objects.filter(client=client).order_by("-id").values_list("kind", "amount")[:2])
    assert tail == [("refund", D("1800.00")), ("deposit_applied", D("-2000.00"))]
    assert refund.ledger_entry.kind == "refund"
    client.refresh_from_db()
    assert client.status == Client.Status.CLOSED and deposit_held(client.pk) == D("0.00")
    with pytest.raises(ValidationError):
        account_close(client=client, actor="test")
    with pytest.raises(ValidationError, match="closed"):
        fee_charge(client=client, code="meter-test", actor="test")


def test_closure_applies_the_deposit_to_arrears_larger_than_it_and_refunds_nothing(tenant) -> None:  # type: ignore[no-untyped-def]
    _catalogue()
    client, meter = metered("Owing Client")
    with travel("2026-08-20"):
        fee_charge(client=client, code="deposit", amount="400", actor="test")  # on the next bill
    _pay(client, "400.00", "DEP-9", "2026-08-21")
    read(meter, "0", "2026-08-31")
    read(meter, "10", "2026-09-30")
    read(meter, "28", "2026-10-31")
    _run("2026-09", "2026-10-02")
    assert lines_of(invoice_of(client, "2026-09"))[-1] == ("deposit", D("400.00"))  # on the bill, paid already
    _run("2026-10", "2026-11-02")
    assert (client_balance(client.pk), deposit_held(client.pk)) == (D("1440.00"), D("400.00"))
    assert deposits_held([client.pk])[client.pk].charged == D("400.00")
    closed = account_close(client=client, actor="test")
    assert (closed.deposit_applied, closed.refund, closed.balance) == (D("400.00"), None, D("1040.00"))
    assert not Payment.objects.filter(client=client, status="refunded").exists()


def test_closing_an_account_without_a_deposit_posts_nothing(tenant) -> None:  # type: ignore[no-untyped-def]
    client = billed_twice("Plain Client")
    before = LedgerEntry.objects.filter(client=client).count()
    closed = account_close(client=client, actor="test")
    assert (closed.deposit_applied, closed.refund, closed.balance) == (D("0.00"), None, D("1440.00"))
    assert LedgerEntry.objects.filter(client=client).count() == before


# --- the catalogue --------------------------------------------------------------------------------
def test_the_catalogue_through_the_api_with_clear_messages(alpha_api, tenant) -> None:  # type: ignore[no-untyped-def]
    made = alpha_api.post("/api/v1/fees/", {"code": "reconnection", "name": "Reconnection fee", "amount": "1,000.00",
                                            "kind": "fee"}, format="json")
    assert made.status_code == 201, made.content
    assert made.json() == {"code": "reconnection", "name": "Reconnection fee", "amount": "1000.00", "kind": "fee"}
    assert alpha_api.post("/api/v1/fees/", {"code": "deposit", "name": "Deposit", "amount": "0", "kind": "deposit"},
                          format="json").status_code == 201
    bad = alpha_api.post("/api/v1/fees/", {"code": "reconnection", "name": "", "amount": "-1", "kind": "tip",
                                           "colour": "red"}, format="json")
    assert bad.status_code == 400
    errors = bad.json()
    assert errors["code"] == ["A fee with the code “reconnection” already exists."]
    assert set(errors) == {"code", "name", "amount", "kind", "colour"}
    assert alpha_api.post("/api/v1/fees/", {"code": "Bad Code", "name": "X", "amount": "abc"},
                          format="json").json().keys() >= {"code", "amount"}
    listed = alpha_api.get("/api/v1/fees/").json()
    assert [f["code"] for f in listed["results"]] == ["deposit", "reconnection"] and listed["count"] == 2
    fee = Fee.objects.get(code="reconnection")
    fee_update(fee=fee, actor="test", amount=D("1200.00"), active=False)
    assert [f["code"] for f in alpha_api.get("/api/v1/fees/").json()["results"]] == ["deposit"]


def test_only_fees_manage_changes_the_catalogue(alpha, tenant) -> None:  # type: ignore[no-untyped-def]
    body = {"code": "meter-test", "name": "Meter test", "amount": "500"}
    accountant = Http(HTTP_HOST=host_of("alpha"))
    login(accountant, "anne@alpha.test")
    assert accountant.get("/api/v1/fees/").status_code == 200
    assert accountant.post("/api/v1/fees/", body, content_type="application/json").status_code == 403
    assert accountant.post("/dashboard/settings/fees/", body).status_code == 403
    reader = Http(HTTP_HOST=host_of("alpha"))
    login(reader, "ari@alpha.test")
    assert reader.get("/api/v1/fees/").status_code == 403
    manager = Http(HTTP_HOST=host_of("alpha"))
    login(manager, "amos@alpha.test")
    assert manager.post("/dashboard/settings/fees/", body).status_code == 302
    fee = Fee.objects.get(code="meter-test")
    assert fee.amount == D("500.00")
    page = manager.post(f"/dashboard/settings/fees/{fee.pk}/", {**body, "amount": "-3", "kind": "fee", "active": "1"})
    assert page.status_code == 400 and "0 or more" in page.content.decode()
    assert manager.post(f"/dashboard/settings/fees/{fee.pk}/", {**body, "amount": "650", "kind": "fee",
                                                                "active": "1"}).status_code == 302
    assert Fee.objects.get(pk=fee.pk).amount == D("650.00")
    from accounts.models import AuditEvent

    assert AuditEvent.objects.filter(action__in=["fee.created", "fee.updated"]).count() == 2


# --- charging through the API ------------------------------------------------------------------------
def test_charging_through_the_api(alpha_api, beta_api, alpha, tenant) -> None:  # type: ignore[no-untyped-def]
    _catalogue()
    client = billed_twice("Api Fee Client")  # owes 1440.00
    url = f"/api/v1/clients/{client.pk}/charges/"
    made = alpha_api.post(url, {"fee": "reconnection", "note": "Reconnected on Monday"}, format="json")
    assert made.status_code == 201, made.content
    body = made.json()
    assert {k: body[k] for k in ("kind", "amount", "balance", "invoice")} == {
        "kind": "fee", "amount": "1000.00", "balance": "2440.00", "invoice": None}
    assert Charge.objects.get(pk=body["id"]).note == "Reconnected on Monday"
    now = alpha_api.post(url, {"fee": "deposit", "amount": "1500", "bill_now": True}, format="json").json()
    assert (now["kind"], now["balance"]) == ("deposit", "3940.00") and now["invoice"].startswith("INV-2026-")
    one_off = Invoice.objects.get(number=now["invoice"])
    shown = alpha_api.get(f"/api/v1/invoices/{one_off.pk}/").json()
    assert (shown["total"], shown["balance_due"], [ln["kind"] for ln in shown["lines"]]) == ("1500.00", "1500.00", ["deposit"])
    unknown = alpha_api.post(url, {"fee": "no-such-fee"}, format="json")
    assert unknown.status_code == 400 and unknown.json() == {"fee": ["There is no fee with the code “no-such-fee”."]}
    for amount in ("0", "-5", "abc", "1.234"):
        bad = alpha_api.post(url, {"fee": "reconnection", "amount": amount}, format="json")
        assert bad.status_code == 400 and list(bad.json()) == ["amount"], (amount, bad.content)
    assert client_balance(client.pk) == D("3940.00")  # nothing refused was charged
    reader = Http(HTTP_HOST=host_of("alpha"))
    login(reader, "ari@alpha.test")
    assert reader.post(url, {"fee": "reconnection"}, content_type="application/json").status_code == 403
    accountant = Http(HTTP_HOST=host_of("alpha"))
    login(accountant, "anne@alpha.test")
    assert accountant.post(url, {"fee": "meter-test"}, content_type="application/json").status_code == 201
    assert api_client("alpha").post(url, {"fee": "meter-test"}, format="json").status_code == 401
    assert client_balance(client.pk) == D("4440.00")
    # Another provider's key: the client does not exist there (and nothing was charged).
    assert beta_api.post(url, {"fee": "reconnection"}, format="json").status_code == 404
    with tenant_context(alpha):
        assert client_balance(client.pk) == D("4440.00")


def test_the_retention_purge_takes_old_charges_with_their_entries_and_bills(tenant) -> None:  # type: ignore[no-untyped-def]
    """Seven years on, a charge billed now, one on its next bill and one reversed go with their
    ledger entries and bills; the balance brought forward keeps the balance; a recent one stays."""
    from datetime import UTC, datetime

    import time_machine

    from privacy.retention import retention_apply

    _catalogue()
    client, meter = _read_to_september("Old Fee Client")
    with travel("2026-09-10"):
        fee_charge(client=client, code="meter-test", bill_now=True, actor="test")
        fee_charge(client=client, code="reconnection", actor="test")
        charge_reverse(charge=fee_charge(client=client, code="meter-test", actor="test"), reason="Error", actor="test")
    _run("2026-09", "2026-10-02")
    with travel("2026-11-20"):
        recent = fee_charge(client=client, code="reconnection", actor="test")
    owed = client_balance(client.pk)
    now = datetime(2033, 10, 20, 12, 0, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        retention_apply(now=now)
    assert list(Charge.objects.filter(client=client)) == [recent]
    assert client_balance(client.pk) == owed == D("500.00") + D("1000.00") + D("500.00") + D("1000.00")
    assert not Invoice.objects.filter(client=client).exists()


def test_an_account_holding_a_deposit_is_not_closed_by_an_edit(alpha_api, tenant) -> None:  # type: ignore[no-untyped-def]
    from clients.services import client_update

    _catalogue()
    client, _ = metered("Edit Close Client")
    with travel("2026-11-01"):
        fee_charge(client=client, code="deposit", actor="test")
    _pay(client, "2000.00", "DEP-E", "2026-11-02")
    with pytest.raises(ValidationError, match="deposit of KES 2,000.00 held"):
        client_update(client=client, actor="test", status=Client.Status.CLOSED)
    refused = alpha_api.patch(f"/api/v1/clients/{client.pk}/", {"status": "closed"}, format="json")
    assert refused.status_code == 400 and "Close account" in refused.json()["status"][0]
    client.refresh_from_db()
    assert client.status == Client.Status.ACTIVE
    client_update(client=client, actor="test", status=Client.Status.DISCONNECTED)  # other changes as before
