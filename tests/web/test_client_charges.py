"""The client page's fees and deposits (issue 19): the charge form for those who charge, the
deposit held, reversal, and closing an account; Settings → Fees."""

from __future__ import annotations

from decimal import Decimal

from django.test import Client as Http

from billing.fees import fee_charge, fee_create
from billing.models import Charge, Fee, LedgerEntry
from billing.selectors import client_balance
from clients.models import Client
from payments.models import Payment
from payments.services import payment_record
from tests.billing_helpers import billed_twice, on, travel
from tests.conftest import host_of, login

D = Decimal


def _as(email: str) -> Http:
    http = Http(HTTP_HOST=host_of("alpha"))
    assert login(http, email).status_code == 302
    return http


def _catalogue() -> None:
    fee_create(actor="test", code="reconnection", name="Reconnection fee", amount=D("1000.00"), kind="fee")
    fee_create(actor="test", code="deposit", name="Water deposit", amount=D("2000.00"), kind="deposit")


def test_an_accountant_charges_from_the_client_page_and_a_meter_reader_cannot(tenant) -> None:  # type: ignore[no-untyped-def]
    _catalogue()
    client = billed_twice("Page Fee Client")  # owes 1440.00
    page = f"/dashboard/clients/{client.pk}/"
    anne = _as("anne@alpha.test")
    html = anne.get(page).content.decode()
    assert 'data-testid="charge-form"' in html and "Reconnection fee · KES 1,000.00" in html
    done = anne.post(f"{page}charge/", {"fee": "reconnection", "amount": "", "note": "After disconnection"})
    assert done.status_code == 302 and done["Location"] == page
    assert client_balance(client.pk) == D("2440.00")
    html = anne.get(page).content.decode()
    assert "Reconnection fee" in html and "next bill" in html and "After disconnection" in html
    # Bad input: the page again, the message under the field, nothing charged.
    bad = anne.post(f"{page}charge/", {"fee": "reconnection", "amount": "abc"})
    assert bad.status_code == 400 and "Enter an amount in KES greater than 0" in bad.content.decode()
    unknown = anne.post(f"{page}charge/", {"fee": "nope"})
    assert unknown.status_code == 400 and "There is no fee with the code “nope”." in unknown.content.decode()
    assert client_balance(client.pk) == D("2440.00")
    # Billed now: a bill of its own.
    anne.post(f"{page}charge/", {"fee": "reconnection", "amount": "500", "bill_now": "1"})
    assert Charge.objects.filter(client=client, invoice__isnull=False, invoice__run__isnull=True).count() == 1
    ari = _as("ari@alpha.test")
    if ari.get(page).status_code == 200:
        assert 'data-testid="charge-form"' not in ari.get(page).content.decode()
    assert ari.post(f"{page}charge/", {"fee": "reconnection"}).status_code == 403
    assert client_balance(client.pk) == D("2940.00")


def test_reversal_from_the_client_page(tenant) -> None:  # type: ignore[no-untyped-def]
    _catalogue()
    client = billed_twice("Page Reverse Client")
    charge = fee_charge(client=client, code="reconnection", actor="test")
    anne = _as("anne@alpha.test")
    url = f"/dashboard/clients/{client.pk}/charges/{charge.pk}/reverse/"
    assert anne.post(url, {"reason": "Charged the wrong client"}).status_code == 302
    assert LedgerEntry.objects.filter(reverses=charge.ledger_entry).exists()
    assert client_balance(client.pk) == D("1440.00")
    assert "Reversed" in anne.get(f"/dashboard/clients/{client.pk}/").content.decode()


def test_the_deposit_held_on_the_client_page_statement_and_portal_and_closing_the_account(tenant) -> None:  # type: ignore[no-untyped-def]
    from accounts.models import User

    _catalogue()
    client = billed_twice("Page Deposit Client")  # owes 1440.00
    client.user = User.objects.get(email="carol@alpha.test")
    client.save(update_fields=["user"])
    with travel("2026-11-10"):
        fee_charge(client=client, code="deposit", bill_now=True, actor="test")
    payment_record(method="cash", receipt="PG-DEP", amount=D("3440.00"), paid_at=on("2026-11-11", 11), client=client,
                   actor="test")
    assert client_balance(client.pk) == D("0.00")
    amos = _as("amos@alpha.test")
    html = amos.get(f"/dashboard/clients/{client.pk}/").content.decode()
    assert 'data-testid="client-deposit">KES 2,000.00' in html
    assert 'data-testid="deposit-held">KES 2,000.00' in amos.get(f"/dashboard/clients/{client.pk}/statement/").content.decode()
    carol = _as("carol@alpha.test")
    assert 'data-testid="deposit-held">KES 2,000.00' in carol.get("/portal/statement/").content.decode()
    assert 'data-testid="portal-deposit">KES 2,000.00' in carol.get("/portal/").content.decode()
    # Closing: an accountant may not; a manager sees the figures, then closes.
    assert _as("anne@alpha.test").get(f"/dashboard/clients/{client.pk}/close/").status_code == 403
    confirm = amos.get(f"/dashboard/clients/{client.pk}/close/").content.decode()
    assert 'data-testid="close-refund">KES 2,000.00' in confirm
    done = amos.post(f"/dashboard/clients/{client.pk}/close/", {"refund_method": "mpesa", "refund_reference": "RFX1"})
    assert done.status_code == 302
    client.refresh_from_db()
    assert client.status == Client.Status.CLOSED and client_balance(client.pk) == D("0.00")
    assert Payment.objects.get(client=client, status="refunded").amount == D("2000.00")
    assert 'data-testid="close-account"' not in amos.get(f"/dashboard/clients/{client.pk}/").content.decode()


def test_the_fees_page_lists_in_a_few_queries_and_offers_the_usual_fees(tenant, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    amos = _as("amos@alpha.test")
    assert "Add the usual fees" in amos.get("/dashboard/settings/fees/").content.decode()
    assert amos.post("/dashboard/settings/fees/", {"starter": "1"}).status_code == 302
    assert Fee.objects.count() == 6 and Fee.objects.filter(kind="deposit").count() == 1
    with django_assert_max_num_queries(12):
        html = amos.get("/dashboard/settings/fees/").content.decode()
    assert "Illegal connection penalty" in html and "Add the usual fees" not in html
    assert 'data-testid="settings-fees"' in amos.get("/dashboard/settings/").content.decode()
    anne = _as("anne@alpha.test")
    html = anne.get("/dashboard/settings/fees/").content.decode()
    assert "Reconnection fee" in html and 'data-testid="fee-add"' not in html
    bad = amos.post("/dashboard/settings/fees/", {"code": "reconnection", "name": "Again", "amount": "10"})
    assert bad.status_code == 400 and "already exists" in bad.content.decode()


def test_a_one_off_bill_shows_in_the_dashboard_the_portal_and_as_a_pdf(tenant) -> None:  # type: ignore[no-untyped-def]
    from accounts.models import User
    from billing.models import Invoice

    _catalogue()
    client = billed_twice("One-off Page Client")
    client.user = User.objects.get(email="carol@alpha.test")
    client.save(update_fields=["user"])
    with travel("2026-11-10"):
        invoice = fee_charge(client=client, code="reconnection", bill_now=True, actor="test").invoice
    assert isinstance(invoice, Invoice)
    amos = _as("amos@alpha.test")
    page = amos.get(f"/dashboard/billing/invoices/{invoice.pk}/")
    assert page.status_code == 200 and 'data-testid="one-off-bill"' in page.content.decode()
    assert "Reconnection fee" in page.content.decode()
    pdf = amos.get(f"/dashboard/billing/invoices/{invoice.pk}/pdf/")
    assert pdf.status_code == 200 and pdf.content[:4] == b"%PDF"
    carol = _as("carol@alpha.test")
    assert carol.get(f"/portal/bills/{invoice.pk}/").status_code == 200
    assert invoice.number in carol.get("/portal/bills/").content.decode()
    assert carol.get(f"/portal/bills/{invoice.pk}/pdf/").content[:4] == b"%PDF"
