"""Bank statement CSV import (issue 17): money in matched to clients by an account number in the
narrative, previewed, the missing payments recorded as bank payments; retries double nothing."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from accounts.models import AuditEvent
from billing.models import LedgerEntry
from billing.selectors import client_balance
from clients.models import Category, Client
from notifications.models import Message
from payments.bank_import import (
    MAX_BYTES,
    MSG_AMBIGUOUS,
    MSG_EMPTY,
    MSG_EXCEL,
    MSG_NO_HEADER,
    MSG_TOO_BIG,
    bank_statement_parse,
    candidates,
)
from payments.models import Allocation, Payment
from payments.services import payment_record
from tests.billing_helpers import NBO, D, billed_twice
from tests.conftest import host_of, login
from tests.notifications_helpers import at, committed, sms_ready  # noqa: F401 - the fixture
from tests.payments.test_payments_collect import as_user

URL = "/dashboard/payments/bank-import/"
HEADER = ["Transaction Date", "Value Date", "Narrative", "Reference", "Debit", "Credit", "Balance"]


def csv_bytes(*rows: list[str], header: list[str] = HEADER, above: list[list[str]] | None = None) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([*(above or []), header, *rows])
    return out.getvalue().encode("utf-8")


def credit(day: str, narrative: str, amount: str, reference: str = "") -> list[str]:
    return [day, day, narrative, reference, "", amount, "99,000.00"]


def debit(day: str, narrative: str, amount: str) -> list[str]:
    return [day, day, narrative, "", amount, "", "98,000.00"]


@pytest.fixture
def billed(tenant):  # type: ignore[no-untyped-def]
    """A client with two issued invoices: September 500.00 and October 940.00."""
    return billed_twice()


def other_client(number: str = "ACC-0042") -> Client:
    return Client.objects.create(account_number=number, full_name="Other Client",
                                 category=Category.objects.get(code="domestic"))


def preview(http, data: bytes, name: str = "statement.csv"):  # type: ignore[no-untyped-def]
    return http.post(URL, {"file": SimpleUploadedFile(name, data, "text/csv")})


def token_of(response) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r'name="token" value="([0-9a-f]{32})"', response.content.decode())
    assert found, response.content.decode()[:3000]
    return found.group(1)


def confirm(http, response, **assign: str):  # type: ignore[no-untyped-def]
    return http.post(URL, {"token": token_of(response), "file_name": "statement.csv", **assign})


def count(response, name: str) -> int:
    found = re.search(rf'data-count="{name}">(\d+)<', response.content.decode())
    assert found, name
    return int(found.group(1))


def text(response) -> str:  # type: ignore[no-untyped-def]
    """The page's words, tags removed."""
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode())))


# --- a good statement --------------------------------------------------------------------------
def test_a_good_statement_is_previewed_then_recorded_and_allocated(billed) -> None:  # type: ignore[no-untyped-def]
    other = other_client()
    anne = as_user("anne@alpha.test")
    acc = billed.account_number
    data = csv_bytes(
        credit("05/11/2026", f"CASH DEPOSIT {acc.lower()} JOHN KAMAU", "1,200.00", "FT26309ABC"),
        debit("06/11/2026", "CHARGES", "150.00"),
        credit("07/11/2026", "EFT FROM JANE WANJIRU ACC 0042 WATER", "300.00", ""),
        ["", "", "Closing balance", "", "", "", "99,350.00"],
        above=[["Equity Bank"], ["Account statement", "01/11/2026 - 20/11/2026"], []])
    page = preview(anne, data)
    assert page.status_code == 200, text(page)[:3000]
    assert (count(page, "rows"), count(page, "to_create"), count(page, "already_recorded"), count(page, "unmatched"),
            count(page, "row_errors")) == (4, 1, 0, 1, 0)
    body = text(page)
    assert f"{acc} · Paying Client" in body and "KES 1,200.00" in body and "FT26309ABC" in body
    assert not Payment.objects.exists()  # a preview writes nothing
    # "ACC 0042" is not a word boundary match for ACC-0042: the reader picks it.
    with committed():
        done = confirm(anne, page, **{"a-7": "acc-0042"})
    assert done.status_code == 200, text(done)[:3000]
    assert count(done, "created") == 2 and "KES 1,500.00" in text(done)
    ours = {p.receipt: p for p in Payment.objects.all()}
    assert len(ours) == 2 and "FT26309ABC" in ours
    [digest] = [p for r, p in ours.items() if r != "FT26309ABC"]
    assert re.fullmatch(r"BANK-[0-9A-F]{20}", digest.receipt) and digest.client_id == other.pk
    first = ours["FT26309ABC"]
    assert (first.method, first.client_id, first.status, first.amount, first.recorded_by.email) == (
        "bank", billed.pk, "matched", D("1200.00"), "anne@alpha.test")
    assert first.paid_at.astimezone(NBO).date().isoformat() == "2026-11-05"
    assert first.payer == f"CASH DEPOSIT {acc.lower()} JOHN KAMAU" and first.account_reference == acc
    assert [(a.invoice.period, a.amount) for a in Allocation.objects.filter(payment=first)] == [
        ("2026-09", D("500.00")), ("2026-10", D("700.00"))]
    assert client_balance(billed.pk) == D("240.00") and client_balance(other.pk) == D("-300.00")
    entry = LedgerEntry.objects.get(reference="FT26309ABC")
    assert (entry.kind, entry.amount, entry.booked_on.isoformat(), first.ledger_entry_id) == (
        "payment", D("-1200.00"), "2026-11-05", entry.pk)
    summary = AuditEvent.objects.get(action="payments.bank_statement_imported")
    assert summary.actor == "anne@alpha.test" and summary.object_repr == "Bank statement 2026-11-05 – 2026-11-07"
    assert (summary.extra_data["created"], summary.extra_data["created_amount"]) == (2, "1500.00")
    assert "JOHN" not in str(summary.extra_data) and "JANE" not in str(summary.extra_data)
    assert AuditEvent.objects.filter(action="payment.recorded", object_repr="bank FT26309ABC",
                                     target_id=first.pk).exists()
    # The receipt page works for an imported payment.
    assert anne.get(f"/dashboard/payments/{first.pk}/pdf/")["Content-Type"] == "application/pdf"


def test_the_receipts_go_out_as_for_a_cash_desk_payment(billed, at) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    sms_ready()
    billed.phone = "+254712345678"
    billed.save()
    anne = as_user("anne@alpha.test")
    page = preview(anne, csv_bytes(credit("2026-11-09", f"DEP {billed.account_number}", "200.00", "TT55")))
    with committed():
        assert confirm(anne, page).status_code == 200
    [sent] = at.wait_for_messages(1)
    assert "KES 200.00" in sent["message"] and "TT55" in sent["message"]
    assert Message.objects.get(event="payment_received", channel="sms").status == "sent"


# --- bad rows ----------------------------------------------------------------------------------
def test_bad_rows_are_listed_with_their_line_and_the_good_ones_kept(billed) -> None:  # type: ignore[no-untyped-def]
    acc = billed.account_number
    anne = as_user("anne@alpha.test")
    data = csv_bytes(
        credit("05/11/2026", f"DEP {acc}", "100.00", "R1"),
        credit("31/02/2026", f"DEP {acc}", "100.00", "R2"),
        credit("06/11/2026", f"DEP {acc}", "1O0.00", "R3"),
        credit("2026-12-25", f"DEP {acc}", "100.00", "R4"),
        credit("", f"DEP {acc}", "100.00", "R5"),
        credit("07/11/2026", f"DEP {acc}", "12.345", "R6"),
        credit("08-Nov-2026", f"DEP {acc}", "250.50", "R7"))
    page = preview(anne, data)
    assert page.status_code == 200 and count(page, "row_errors") == 5 and count(page, "to_create") == 2
    for line, message in ((3, "Date “31/02/2026” is not a date"), (4, "Money in “1O0.00” is not an amount."),
                          (5, "Dated 25 Dec 2026, in the future."), (6, "No date."),
                          (7, "Amount “12.345” is not an amount in KES")):
        assert re.search(rf'data-label="Line">{line}</td><td data-label="Problem">{re.escape(message)}',
                         unescape(page.content.decode())), message
    done = confirm(anne, page)
    assert count(done, "created") == 2 and count(done, "row_errors") == 5
    assert set(Payment.objects.values_list("receipt", "amount")) == {("R1", D("100.00")), ("R7", D("250.50"))}


def test_a_file_that_is_no_statement_gives_the_form_back(tenant) -> None:  # type: ignore[no-untyped-def]
    anne = as_user("anne@alpha.test")
    for data, message in ((b"", "The submitted file is empty."), (b"\n \n", MSG_EMPTY),
                          (b"PK\x03\x04rest-of-a-zip", MSG_EXCEL),
                          (b"Name,Phone\nJohn,0712\n", MSG_NO_HEADER)):
        page = preview(anne, data)
        assert page.status_code == 400 and message in text(page), (data, text(page)[:2000])
        assert "Upload and preview" in text(page)
    too_big = preview(anne, b"Date,Narrative,Credit\n" + b"x" * MAX_BYTES)
    assert too_big.status_code == 400 and MSG_TOO_BIG in text(too_big)
    assert anne.post(URL, {}).status_code == 400
    assert not Payment.objects.exists()


# --- retries and what is already there ---------------------------------------------------------
def test_the_same_file_twice_records_nothing_more(billed) -> None:  # type: ignore[no-untyped-def]
    acc = billed.account_number
    anne = as_user("anne@alpha.test")
    # Two identical rows without a reference are two payments, each with a stable key.
    data = csv_bytes(credit("05/11/2026", f"DEP {acc}", "100.00"), credit("05/11/2026", f"DEP {acc}", "100.00"),
                     credit("06/11/2026", f"DEP {acc}", "300.00", "FT1"))
    first = confirm(anne, preview(anne, data))
    assert count(first, "created") == 3
    again = preview(anne, data)
    assert (count(again, "to_create"), count(again, "already_recorded")) == (0, 3)
    second = confirm(anne, again)
    assert (count(second, "created"), count(second, "already_recorded")) == (0, 3)
    assert Payment.objects.count() == 3 and LedgerEntry.objects.filter(kind="payment").count() == 3
    assert client_balance(billed.pk) == D("940.00")
    # The form sent twice (a double click): the kept upload is gone, nothing is recorded.
    stale = anne.post(URL, {"token": token_of(again), "file_name": "statement.csv"})
    assert stale.status_code == 302 and Payment.objects.count() == 3


def test_a_payment_recorded_at_the_desk_is_not_recorded_again(billed) -> None:  # type: ignore[no-untyped-def]
    acc = billed.account_number
    typed = payment_record(method="bank", receipt="ft77", amount=D("500.00"), client=billed,
                           paid_at=datetime(2026, 11, 5, 15, 0, tzinfo=NBO)).payment
    slip = payment_record(method="bank", receipt="SLIP-9", amount=D("250.00"), client=billed,
                          paid_at=datetime(2026, 11, 6, 10, 0, tzinfo=NBO)).payment
    missing = payment_record(method="bank", receipt="EFT-404", amount=D("80.00"), client=billed,
                             paid_at=datetime(2026, 11, 6, 11, 0, tzinfo=NBO)).payment
    payment_record(method="bank", receipt="LATER", amount=D("80.00"), client=billed,
                   paid_at=datetime(2026, 11, 12, 11, 0, tzinfo=NBO))  # after the statement's days
    anne = as_user("anne@alpha.test")
    page = preview(anne, csv_bytes(
        credit("05/11/2026", f"DEP {acc}", "500.00", "FT77"),  # the same reference, another case
        credit("06/11/2026", f"CASH DEP {acc}", "250.00", "BK8812"),  # same client, amount and day
        credit("07/11/2026", f"DEP {acc}", "250.00", "BK8813")))
    assert (count(page, "to_create"), count(page, "already_recorded")) == (1, 2)
    recorded = page.content.decode()
    assert f'/dashboard/payments/{typed.pk}/' in recorded and f'/dashboard/payments/{slip.pk}/' in recorded
    assert re.search(r'data-testid="bank-not-on-statement".*EFT-404', recorded, re.S)
    assert "LATER" not in recorded
    done = confirm(anne, page)
    assert count(done, "created") == 1 and count(done, "not_on_statement") == 1
    assert Payment.objects.filter(method="bank").count() == 5 and Payment.objects.filter(receipt="BK8813").exists()
    assert missing.pk in [int(x) for x in re.findall(r'data-testid="bank-not-on-statement".*?/dashboard/payments/(\d+)/',
                                                     done.content.decode(), re.S)]


# --- unmatched rows ----------------------------------------------------------------------------
def test_unmatched_rows_are_listed_and_can_be_given_to_a_client(billed) -> None:  # type: ignore[no-untyped-def]
    other_client("W-77")
    other_client("W-78")
    anne = as_user("anne@alpha.test")
    data = csv_bytes(credit("05/11/2026", "INWARD TRANSFER JOHN", "400.00", "IT1"),
                     credit("05/11/2026", "INTEREST", "3.10", "IT2"),
                     credit("06/11/2026", "PAYMENT W-77 AND W-78", "900.00", "IT3"))
    page = preview(anne, data)
    assert (count(page, "to_create"), count(page, "unmatched")) == (0, 3)
    assert MSG_AMBIGUOUS.format(accounts="W-77, W-78") in text(page)
    # An account that is not ours: nothing at all is recorded, the box shows the problem.
    wrong = confirm(anne, page, **{"a-2": "NOPE-1", "a-3": billed.account_number})
    assert wrong.status_code == 400 and "No open account has number “NOPE-1”." in text(wrong)
    assert 'value="NOPE-1"' in wrong.content.decode() and not Payment.objects.exists()
    # Corrected: line 2 goes to the client, interest is left out, line 4 stays unmatched.
    done = confirm(anne, wrong, **{"a-2": billed.account_number.lower(), "a-3": "", "a-4": ""})
    assert (count(done, "created"), count(done, "unmatched")) == (1, 2)
    payment = Payment.objects.get()
    assert (payment.receipt, payment.client_id, payment.amount) == ("IT1", billed.pk, D("400.00"))
    assert client_balance(billed.pk) == D("1040.00")


def test_every_row_of_a_file_gets_its_own_reference() -> None:
    rows = [credit("05/11/2026", "DEP A1", "10.00", ref) for ref in ("FT1", "ft1", "FT1-2", "")] + [
        credit("05/11/2026", "DEP A1", "10.00"), credit("05/11/2026", "DEP A1", "10.000")]
    keys = [row.key for row in bank_statement_parse(csv_bytes(*rows)).rows]
    assert keys[:3] == ["FT1", "ft1-2", "FT1-2-2"]
    assert len({k.upper() for k in keys}) == 6 and all(re.fullmatch(r"BANK-[0-9A-F]{20}", k) for k in keys[3:])
    assert keys == [row.key for row in bank_statement_parse(csv_bytes(*rows)).rows]  # the same every time


def test_account_numbers_are_found_as_whole_words() -> None:
    assert {"ACC0042", "ACC 0042", "ACC", "0042"} <= candidates("dep acc 0042.")
    assert "MS-0012" in candidates("FT/MS-0012/JOHN") and "0012" in candidates("FT/MS-0012/JOHN")
    assert "B100" not in candidates("DEPOSIT B1001 JOHN") and "B1001" in candidates("DEPOSIT B1001 JOHN")


# --- header variants ---------------------------------------------------------------------------
@pytest.mark.parametrize(("header", "row"), [
    (["Transaction Date", "Narrative", "Credit"], ["05/11/2026", "DEP {acc}", "1,500.00"]),
    (["Value Date", "Description", "Money In", "Ref"], ["2026-11-05", "DEP {acc}", "KES 1,500.00", "X1"]),
    (["Date", "Details", "Amount"], ["05-Nov-2026", "POS {acc}", "1,500.00"]),
    (["Posting Date", "Particulars", "Debit", "Credit", "Reference"], ["5 Nov 2026", "{acc}", "", "1500", "X2"]),
    (["TRANSACTION DATE ", "DETAILS", "CREDIT (KES)", "REF NO."], ["05/11/2026 14:22", "{acc}/dep", "1,500.00", ""]),
])
def test_common_bank_headers_and_formats_are_read(billed, header, row) -> None:  # type: ignore[no-untyped-def]
    acc = billed.account_number
    filled = [cell.format(acc=acc) for cell in row]
    money_out = ["06/11/2026", f"TRANSFER OUT {acc}", "-2,000.00"] if header[2] == "Amount" else None
    data = csv_bytes(filled, *([money_out] if money_out else []), header=header)
    parsed = bank_statement_parse(data)
    assert [(r.day.isoformat(), r.amount) for r in parsed.rows] == [("2026-11-05", D("1500.00"))], parsed.errors
    assert parsed.money_out == (1 if money_out else 0) and parsed.errors == []
    anne = as_user("anne@alpha.test")
    done = confirm(anne, preview(anne, data))
    assert count(done, "created") == 1 and Payment.objects.get().client_id == billed.pk


def test_a_semicolon_file_in_windows_encoding_is_read(billed) -> None:  # type: ignore[no-untyped-def]
    data = f"Date;Narration;Credit\r\n05.11.2026;Dépôt {billed.account_number};1500,00\r\n".encode("cp1252")
    parsed = bank_statement_parse(data)
    # A decimal comma is not ours to guess: the row is reported, never read as 150000.
    assert parsed.rows == [] and len(parsed.errors) == 1 and parsed.errors[0].line == 2


# --- who may, and whose ------------------------------------------------------------------------
def test_only_roles_that_record_payments_may_import(billed) -> None:  # type: ignore[no-untyped-def]
    data = csv_bytes(credit("05/11/2026", f"DEP {billed.account_number}", "100.00", "R1"))
    ari = as_user("ari@alpha.test")
    assert ari.get(URL).status_code == 403 and preview(ari, data).status_code == 403
    assert ari.post(URL, {"token": "a" * 32}).status_code == 403
    for email in ("alice@alpha.test", "amos@alpha.test", "anne@alpha.test"):
        page = as_user(email).get(URL)
        assert page.status_code == 200 and "Transaction Date, Value Date" in text(page)
    assert 'href="/dashboard/payments/bank-import/"' in as_user("anne@alpha.test").get("/dashboard/payments/").content.decode()
    assert not Payment.objects.exists()


def test_another_providers_account_numbers_never_match(billed, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(beta):
        Client.objects.create(account_number="BETA-7", full_name="Beta Client",
                              category=Category.objects.get(code="domestic"))
    anne = as_user("anne@alpha.test")
    page = preview(anne, csv_bytes(credit("05/11/2026", "DEP BETA-7", "100.00", "X9")))
    assert (count(page, "to_create"), count(page, "unmatched")) == (0, 1)
    refused = confirm(anne, page, **{"a-2": "BETA-7"})
    assert refused.status_code == 400 and not Payment.objects.exists()
    # Beta's owner cannot use alpha's kept upload.
    bob = _as_beta()
    assert bob.post(URL, {"token": token_of(page), "file_name": "x.csv"}).status_code == 302
    with tenant_context(beta):
        assert not Payment.objects.exists()


def _as_beta():  # type: ignore[no-untyped-def]
    from django.test import Client as Http

    http = Http(HTTP_HOST=host_of("beta"))
    login(http, "bob@beta.test")
    return http


# --- cost ----------------------------------------------------------------------------------------
def test_preview_and_import_cost_the_same_queries_for_3_or_30_rows(billed) -> None:  # type: ignore[no-untyped-def]
    clients = [other_client(f"Q-{i:03d}") for i in range(30)]
    anne = as_user("anne@alpha.test")

    def run(n: int, amount: str) -> tuple[int, int]:
        data = csv_bytes(*[credit("05/11/2026", f"DEP {c.account_number}", amount, f"R{amount}-{i}")
                           for i, c in enumerate(clients[:n])])
        with CaptureQueriesContext(connection) as seen_preview:
            page = preview(anne, data)
        with CaptureQueriesContext(connection) as seen_import:
            done = confirm(anne, page)
        assert count(done, "created") == n
        return len(seen_preview), len(seen_import)

    assert run(3, "10.00") == run(30, "11.00")
