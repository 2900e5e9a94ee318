"""Reconciliation with an M-Pesa statement (issue 5): the Org portal's CSV export for a date range;
payments it has and we lack (lost callbacks) are recorded, differences are listed."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as Http
from django_tenants.utils import tenant_context

from accounts.models import AuditEvent, User
from billing.models import LedgerEntry
from billing.selectors import client_balance
from clients.models import Category, Client
from payments.models import Allocation, Payment
from payments.services import payment_record
from payments.statements import (
    MSG_EXCEL,
    MSG_NO_HEADER,
    MSG_RANGE_LONG,
    MSG_RANGE_ORDER,
    StatementError,
    statement_parse,
    statement_reconcile,
)
from payments.views.statements import MSG_NO_FILE
from tests.billing_helpers import NBO, D, billed_twice
from tests.conftest import host_of, login

URL = "/dashboard/payments/statement/"
NOV = {"date_from": date(2026, 11, 1), "date_to": date(2026, 11, 20)}
PREAMBLE = [
    ["Organisation Name:", "Alpha Water"],
    ["Organisation Short Code:", "600966"],
    ["Account:", "Utility Account"],
    ["Time Period:", "01-11-2026 00:00:00 - 20-11-2026 23:59:59"],
    ["Operator:", "alice@alpha.test"],
    [],
]
HEADER = ["Receipt No.", "Completion Time", "Initiation Time", "Details", "Transaction Status", "Paid In",
          "Withdrawn", "Balance", "Balance Confirmed", "Reason Type", "Other Party Info", "Linked Transaction ID",
          "A/C No."]
FIRST_ROW_LINE = len(PREAMBLE) + 2  # the header is line 7, the first row line 8


def paid(receipt: str, when: str, amount: str, account: str = "", *, in_details_only: bool = False,
         status: str = "Completed", reason: str = "Pay Bill Online", name: str = "JOHN DOE",
         phone: str = "2547****149") -> list[str]:
    """A customer's Paybill payment as the export shows it."""
    details = f"Pay Bill Online from {phone} - {name} Acc. {account}"
    return [receipt, when, when, details, status, amount, "", "10,000.00", "true", reason, f"{phone} - {name}", "",
            "" if in_details_only else account]


def charge(receipt: str, when: str, amount: str = "-15.00") -> list[str]:
    return [receipt, when, when, "Pay Bill Charge", "Completed", "", amount, "9,985.00", "true", "Pay Bill Charge",
            "", receipt, ""]


def withdrawal(receipt: str, when: str, amount: str = "5,000.00") -> list[str]:
    return [receipt, when, when, "Funds Transfer to 123456 - ALPHA WATER MMF", "Completed", "", amount, "4,985.00",
            "true", "Business Transfer", "123456 - ALPHA WATER", "", ""]


def statement(*rows: list[str], header: list[str] = HEADER, preamble: list[list[str]] = PREAMBLE) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([*preamble, header, *rows])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def reconcile(data: bytes, *, actor: object = "test", **dates: date):  # type: ignore[no-untyped-def]
    return statement_reconcile(upload=SimpleUploadedFile("ORG_600966_Utility.csv", data, "text/csv"),
                               actor=actor, **{**NOV, **dates})


def callback(receipt: str, amount: str, when: datetime, client: Client | None = None) -> Payment:
    """A payment that did arrive by callback."""
    return payment_record(method="mpesa", receipt=receipt, amount=D(amount), paid_at=when, client=client,
                          account_reference=client.account_number if client else "WHO").payment


@pytest.fixture
def billed(tenant):  # type: ignore[no-untyped-def]
    """A client with two issued invoices: September 500.00 and October 940.00."""
    return billed_twice()


def http_as(email: str, slug: str = "alpha") -> Http:
    http = Http(HTTP_HOST=host_of(slug))
    login(http, email)
    return http


def upload(http: Http, data: bytes | None, **fields: str):  # type: ignore[no-untyped-def]
    body: dict[str, object] = {"date_from": "2026-11-01", "date_to": "2026-11-20", **fields}
    if data is not None:
        body["file"] = SimpleUploadedFile("statement.csv", data, "text/csv")
    return http.post(URL, body)


# --- the service -------------------------------------------------------------------------------
def test_it_records_a_lost_callback_and_allocates_it(billed) -> None:  # type: ignore[no-untyped-def]
    alice = User.objects.get(email="alice@alpha.test")
    data = statement(
        paid("SKL1ABC234", "2026-11-05 14:30:15", "1,200.00", f" {billed.account_number.lower()}", in_details_only=True),
        charge("SKL1ABC234", "2026-11-05 14:30:15"),
        withdrawal("SKL1ABC999", "2026-11-06 09:00:00"))
    result = reconcile(data, actor=alice)
    assert (result.rows_read, result.not_payments, result.in_range, result.already_recorded) == (3, 2, 1, 0)
    assert [c.payment.receipt for c in result.created_matched] == ["SKL1ABC234"] and result.created_unmatched == []
    payment = Payment.objects.get(receipt="SKL1ABC234")
    assert (payment.method, payment.client_id, payment.status, payment.amount, payment.payer, payment.payer_name) == (
        "mpesa", billed.pk, "matched", D("1200.00"), "2547****149", "JOHN DOE")
    assert payment.paid_at == datetime(2026, 11, 5, 14, 30, 15, tzinfo=NBO)  # statement times are Nairobi time
    assert payment.recorded_by == alice and payment.inbox is None
    allocations = [(a.invoice.period, a.amount) for a in Allocation.objects.filter(payment=payment)]
    assert allocations == [("2026-09", D("500.00")), ("2026-10", D("700.00"))]
    assert client_balance(billed.pk) == D("240.00")
    event = AuditEvent.objects.get(action="payments.statement_reconciled")
    assert event.actor == "alice@alpha.test" and event.object_repr == "M-Pesa statement 2026-11-01 – 2026-11-20"
    assert {k: event.extra_data[k] for k in ("rows", "in_range", "created_matched", "created_unmatched",
                                             "row_errors", "created_amount", "file")} == {
        "rows": 3, "in_range": 1, "created_matched": 1, "created_unmatched": 0, "row_errors": 0,
        "created_amount": "1200.00", "file": "ORG_600966_Utility.csv"}
    assert AuditEvent.objects.filter(action="payment.recorded", object_repr="mpesa SKL1ABC234").exists()


def test_an_unknown_account_waits_in_reconciliation(tenant) -> None:  # type: ignore[no-untyped-def]
    result = reconcile(statement(paid("SKL2UNKNWN", "2026-11-07 08:00:00", "350.00", "NO-SUCH-ACC")))
    assert [c.payment.receipt for c in result.created_unmatched] == ["SKL2UNKNWN"] and result.created_matched == []
    payment = Payment.objects.get(receipt="SKL2UNKNWN")
    assert (payment.status, payment.client_id, payment.account_reference, payment.ledger_entry_id) == (
        "unmatched", None, "NO-SUCH-ACC", None)
    assert not LedgerEntry.objects.filter(reference="SKL2UNKNWN").exists()


def test_rows_outside_the_range_are_left_alone(billed) -> None:  # type: ignore[no-untyped-def]
    acc = billed.account_number
    result = reconcile(statement(
        paid("SKL3BEFORE", "2026-10-31 23:59:59", "100.00", acc),
        paid("SKL3FIRST0", "2026-11-01 00:00:00", "101.00", acc),
        paid("SKL3LAST00", "2026-11-20 23:59:59", "102.00", acc),
        paid("SKL3AFTER0", "2026-11-21 00:00:00", "103.00", acc)))
    assert (result.in_range, result.outside_range) == (2, 2)
    assert set(Payment.objects.values_list("receipt", flat=True)) == {"SKL3FIRST0", "SKL3LAST00"}


def test_withdrawals_charges_and_uncompleted_rows_are_not_payments(tenant) -> None:  # type: ignore[no-untyped-def]
    result = reconcile(statement(
        charge("SKL4CHARGE", "2026-11-03 10:00:00"),
        withdrawal("SKL4WITHDR", "2026-11-03 11:00:00"),
        paid("SKL4FAILED", "2026-11-03 12:00:00", "500.00", "ACC1", status="Failed"),
        paid("SKL4CANCEL", "2026-11-03 12:00:00", "500.00", "ACC1", status="Cancelled"),
        paid("SKL4REVERS", "2026-11-03 13:00:00", "800.00", "", reason="Reversal"),
        paid("SKL4SETTLE", "2026-11-03 14:00:00", "900.00", "", reason="Organization Settlement"),
        ["", "", "", "Totals", "", "3,200.00", "5,015.00", "", "", "", "", "", ""]))
    assert (result.rows_read, result.not_payments, result.in_range, result.created) == (7, 7, 0, 0)
    assert not Payment.objects.exists() and result.errors == []


def test_an_amount_difference_is_listed_and_left_alone(billed) -> None:  # type: ignore[no-untyped-def]
    ours = callback("SKL5DIFFER", "500.00", datetime(2026, 11, 9, 10, 0, tzinfo=NBO), billed)
    result = reconcile(statement(paid("SKL5DIFFER", "2026-11-09 10:00:00", "550.00", billed.account_number)))
    assert result.already_recorded == 1 and result.created == 0
    [difference] = result.amount_differences
    assert (difference.payment.pk, difference.payment.amount, difference.line.amount, difference.difference) == (
        ours.pk, D("500.00"), D("550.00"), D("50.00"))
    assert Payment.objects.get(pk=ours.pk).amount == D("500.00")


def test_ours_missing_from_the_statement_are_listed(billed) -> None:  # type: ignore[no-untyped-def]
    missing = callback("SKL6OURS01", "300.00", datetime(2026, 11, 12, 9, 0, tzinfo=NBO), billed)
    callback("SKL6OUTSID", "300.00", datetime(2026, 11, 22, 9, 0, tzinfo=NBO), billed)  # after the range
    # Our callback time is just inside the range, the statement's just outside: it is on the statement.
    callback("SKL6EDGE01", "200.00", datetime(2026, 11, 20, 23, 59, 59, tzinfo=NBO), billed)
    callback("SKL6FAILED", "250.00", datetime(2026, 11, 13, 9, 0, tzinfo=NBO), billed)
    result = reconcile(statement(
        paid("SKL6EDGE01", "2026-11-21 00:00:02", "200.00", billed.account_number),
        paid("SKL6FAILED", "2026-11-13 09:00:00", "250.00", billed.account_number, status="Failed")))
    assert [p.receipt for p in result.not_on_statement] == ["SKL6OURS01", "SKL6FAILED"]
    assert result.not_on_statement[0].pk == missing.pk and result.created == 0


def test_the_same_statement_twice_records_nothing_more(billed) -> None:  # type: ignore[no-untyped-def]
    data = statement(paid("SKL7AGAIN1", "2026-11-05 14:30:15", "400.00", billed.account_number),
                     paid("SKL7AGAIN2", "2026-11-06 14:30:15", "150.00", "NOBODY"))
    first = reconcile(data)
    second = reconcile(data)
    assert (first.created, second.created, second.already_recorded) == (2, 0, 2)
    assert second.amount_differences == [] and second.not_on_statement == []
    assert Payment.objects.count() == 2 and LedgerEntry.objects.filter(kind="payment").count() == 1
    assert client_balance(billed.pk) == D("1040.00")


def test_bad_rows_are_reported_by_line_and_good_rows_kept(billed) -> None:  # type: ignore[no-untyped-def]
    acc = billed.account_number
    result = reconcile(statement(
        paid("SKL8GOOD01", "2026-11-05 10:00:00", "100.00", acc),
        paid("SKL8BADTIM", "2026-11-31 25:00:00", "100.00", acc),
        paid("SKL8BADAMT", "2026-11-05 11:00:00", "1O0.00", acc),
        paid("", "2026-11-05 12:00:00", "100.00", acc),
        paid("SKL8GOOD01", "2026-11-05 10:00:00", "100.00", acc),
        paid("SKL8GOOD02", "06-11-2026 10:00:00", "2,000.50", acc)))
    line = FIRST_ROW_LINE
    assert [(e.line, e.receipt) for e in result.errors] == [
        (line + 1, "SKL8BADTIM"), (line + 2, "SKL8BADAMT"), (line + 3, ""), (line + 4, "SKL8GOOD01")]
    assert "2026-11-31 25:00:00" in result.errors[0].message and "1O0.00" in result.errors[1].message
    assert "first on line 8" in result.errors[3].message
    assert sorted(Payment.objects.values_list("receipt", "amount")) == [
        ("SKL8GOOD01", D("100.00")), ("SKL8GOOD02", D("2000.50"))]
    assert AuditEvent.objects.get(action="payments.statement_reconciled").extra_data["row_errors"] == 4


def test_it_reads_the_export_however_it_was_saved(tenant) -> None:  # type: ignore[no-untyped-def]
    """Header in other case and spacing, semicolons, Windows-1252, day-first times without
    seconds, the account only in Details, a Currency column; no preamble at all."""
    header = [" receipt no ", "COMPLETION  TIME", "Initiation Time", "Details", "Transaction Status", "Paid In",
              "Withdrawn", "Balance", "Balance Confirmed", "Reason Type", "Other Party Info",
              "Linked Transaction ID", "A/C No", "Currency"]
    rows = [paid("skl9window", "02-11-2026 14:03", "1,500.00", "B-77", in_details_only=True, name="JOSÉ ÑAMBURA"),
            paid("SKL9ACCARD", "2026/11/03 08:15:00", "KES 20", "ACC 12", in_details_only=True, name="MARY ACCARDO")]
    out = io.StringIO()
    csv.writer(out, delimiter=";").writerows([header, *(row + ["KES"] for row in rows)])
    parsed = statement_parse(out.getvalue().encode("cp1252"))
    assert parsed.errors == []
    assert [(p.receipt, p.paid_at, p.amount, p.account_reference, p.payer, p.payer_name) for p in parsed.payments] == [
        ("SKL9WINDOW", datetime(2026, 11, 2, 14, 3, tzinfo=NBO), D("1500.00"), "B-77", "2547****149", "JOSÉ ÑAMBURA"),
        ("SKL9ACCARD", datetime(2026, 11, 3, 8, 15, tzinfo=NBO), D("20.00"), "ACC 12", "2547****149", "MARY ACCARDO")]


def test_a_file_that_is_not_a_statement_is_refused(tenant) -> None:  # type: ignore[no-untyped-def]
    for data, message in ((b"full_name,category\nJane,domestic\n", MSG_NO_HEADER),
                          (b"PK\x03\x04\x14\x00\x06\x00rest-of-an-xlsx", MSG_EXCEL)):
        with pytest.raises(StatementError, match=re.escape(message)):
            reconcile(data)
    assert not AuditEvent.objects.filter(action="payments.statement_reconciled").exists()


def test_the_comparison_is_one_query_and_each_payment_recorded_costs_a_bounded_few(
        billed, django_assert_num_queries, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 11, 1, 8, 0, tzinfo=NBO)
    times = [start + timedelta(minutes=97 * i) for i in range(200)]
    Payment.objects.bulk_create([
        Payment(receipt=f"SKLQ{i:06d}", method="mpesa", amount=D("100.00"), status="unmatched", paid_at=times[i],
                account_reference="OLD") for i in range(190)])
    rows = [paid(f"SKLQ{i:06d}", f"{times[i].astimezone(NBO):%Y-%m-%d %H:%M:%S}", "100.00",
                 billed.account_number if i % 2 else "NOBODY") for i in range(200)]
    data = statement(*rows[:190])
    with django_assert_num_queries(2):  # our payments for the range, the audit row
        result = reconcile(data)
    assert (result.in_range, result.already_recorded, result.created) == (190, 190, 0)
    # client_for_account, then payment_record: savepoint, client lock, insert, read back, open
    # invoices, allocations, ledger entry, payment update, audit, release (an unmatched one: 6).
    per_payment = 11
    with django_assert_max_num_queries(2 + 10 * per_payment):
        result = reconcile(statement(*rows))
    assert (result.already_recorded, len(result.created_matched), len(result.created_unmatched)) == (190, 5, 5)


# --- the page ----------------------------------------------------------------------------------
def test_the_page_reports_what_it_found(billed, alpha) -> None:  # type: ignore[no-untyped-def]
    anne = http_as("anne@alpha.test")
    assert b"Upload M-Pesa statement" in anne.get("/dashboard/payments/").content
    page = anne.get(URL)
    assert page.status_code == 200 and b"Upload and compare" in page.content
    response = upload(anne, statement(
        paid("SKLPMATCH1", "2026-11-05 14:30:15", "700.00", billed.account_number),
        paid("SKLPUNMAT1", "2026-11-06 14:30:15", "50.00", "TYPO-99"),
        paid("SKLPBADTIM", "yesterday", "50.00", "TYPO-99")))
    assert response.status_code == 200
    body = response.content.decode()
    for text in ("SKLPMATCH1", "SKLPUNMAT1", "TYPO-99", "Rows that could not be read", "SKLPBADTIM",
                 'data-count="created_matched">1<', 'data-count="row_errors">1<', "?status=unmatched"):
        assert text in body, text
    with tenant_context(alpha):
        assert Payment.objects.get(receipt="SKLPMATCH1").client_id == billed.pk
        assert Payment.objects.get(receipt="SKLPUNMAT1").status == "unmatched"
        assert AuditEvent.objects.get(action="payments.statement_reconciled").actor == "anne@alpha.test"


def test_the_form_says_what_is_wrong(tenant, alpha) -> None:  # type: ignore[no-untyped-def]
    anne = http_as("anne@alpha.test")
    good = statement(paid("SKLFFORM01", "2026-11-05 14:30:15", "700.00", "X"))
    cases = [(None, {}, MSG_NO_FILE), (b"account,amount\nA1,100\n", {}, MSG_NO_HEADER),
             (good, {"date_from": "2026-11-21"}, MSG_RANGE_ORDER),
             (good, {"date_from": "2026-08-01", "date_to": "2026-11-20"}, MSG_RANGE_LONG)]
    for data, fields, message in cases:
        response = upload(anne, data, **fields)
        assert response.status_code == 400 and message in response.content.decode(), message
    with tenant_context(alpha):
        assert not Payment.objects.exists()
        assert not AuditEvent.objects.filter(action="payments.statement_reconciled").exists()


def test_only_finance_roles_may_upload(tenant, alpha) -> None:  # type: ignore[no-untyped-def]
    data = statement(paid("SKLRPERM01", "2026-11-05 14:30:15", "700.00", "X"))
    reader = http_as("ari@alpha.test")
    assert reader.get(URL).status_code == 403
    assert upload(reader, data).status_code == 403
    anonymous = Http(HTTP_HOST=host_of("alpha"))
    assert anonymous.get(URL).status_code == 302 and upload(anonymous, data).status_code == 302
    with tenant_context(alpha):
        assert not Payment.objects.exists()
    assert upload(http_as("anne@alpha.test"), data).status_code == 200
    with tenant_context(alpha):
        assert Payment.objects.filter(receipt="SKLRPERM01").exists()


def test_a_provider_reconciles_only_its_own_payments(billed, alpha, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(beta):
        # Beta has a client with the very same account number, and a payment of its own.
        twin = Client.objects.create(account_number=billed.account_number, full_name="Beta Twin",
                                     category=Category.objects.get(code="domestic"))
        callback("SKLBETA001", "999.00", datetime(2026, 11, 10, 9, 0, tzinfo=NBO), twin)
    bob = http_as("bob@beta.test", "beta")
    intruder = Http(HTTP_HOST=host_of("alpha"))
    intruder.cookies = bob.cookies
    assert intruder.get(URL).status_code == 302  # beta's session means nothing on alpha's domain
    response = upload(http_as("anne@alpha.test"), statement(
        paid("SKLALPHA01", "2026-11-05 14:30:15", "700.00", billed.account_number)))
    assert response.status_code == 200 and "SKLBETA001" not in response.content.decode()
    with tenant_context(alpha):
        assert Payment.objects.get(receipt="SKLALPHA01").client_id == billed.pk
        assert not Payment.objects.filter(receipt="SKLBETA001").exists()
    with tenant_context(beta):
        assert list(Payment.objects.values_list("receipt", flat=True)) == ["SKLBETA001"]
        assert client_balance(twin.pk) == D("-999.00")
        assert not AuditEvent.objects.filter(action="payments.statement_reconciled").exists()
