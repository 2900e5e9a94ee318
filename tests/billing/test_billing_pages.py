"""Billing pages: the run wizard, invoices, credit notes, adjustments, rules; the portal's bills."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client as Http
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from billing.models import BillingRun, BillingSettings, CreditNote, Invoice, LedgerEntry
from tests.billing_helpers import metered, read
from tests.conftest import host_of, login


def staff(email: str) -> Http:
    browser = Http(HTTP_HOST=host_of("alpha"))
    assert login(browser, email).status_code == 302
    return browser


@pytest.fixture
def october(tenant):  # type: ignore[no-untyped-def]
    from accounts.models import User

    clients = []
    for i, used in enumerate((35, 8)):
        client, meter = metered(f"Page Client {i}")
        read(meter, "100", "2026-09-30")
        read(meter, str(100 + used), "2026-10-31")
        clients.append(client)
    clients[0].user = User.objects.get(email="carol@alpha.test")
    clients[0].save(update_fields=["user"])
    return clients


def test_the_wizard_from_period_to_preview_to_issued(october, alpha) -> None:  # type: ignore[no-untyped-def]
    anne = staff("anne@alpha.test")
    start = anne.get("/dashboard/billing/")
    assert start.status_code == 200 and b'name="period"' in start.content and b'value="2026-10"' in start.content
    created = anne.post("/dashboard/billing/runs/new/", {"period": "2026-10"})
    assert created.status_code == 302
    preview = anne.get(created.url)
    assert b"October 2026" in preview.content and b"Draft" in preview.content
    with tenant_context(alpha):
        run = BillingRun.objects.get(period="2026-10")
    assert f'data-testid="billed">{run.invoice_count}<'.encode() in preview.content
    assert b"By category" in preview.content and b"<svg" in preview.content
    unconfirmed = anne.post(f"/dashboard/billing/runs/{run.pk}/finalize/", {"confirm": "2026-09"}, follow=True)
    assert b"Type the period" in unconfirmed.content
    with tenant_context(alpha):
        assert BillingRun.objects.get(pk=run.pk).status == "draft"
    done = anne.post(f"/dashboard/billing/runs/{run.pk}/finalize/", {"confirm": "2026-10"}, follow=True)
    assert b"Issued" in done.content and b"INV-2026-" in done.content
    with tenant_context(alpha):
        assert BillingRun.objects.get(pk=run.pk).status == "finalized"
    # Asking for the period again opens the same run.
    again = anne.post("/dashboard/billing/runs/new/", {"period": "2026-10"})
    assert again.url == created.url


def test_a_bad_period_shows_the_form_with_the_error(tenant) -> None:  # type: ignore[no-untyped-def]
    response = staff("anne@alpha.test").post("/dashboard/billing/runs/new/", {"period": "2099-01"})
    assert response.status_code == 400 and b"has not started yet" in response.content


def test_recompute_from_the_page(october, alpha) -> None:  # type: ignore[no-untyped-def]
    amos = staff("amos@alpha.test")
    url = amos.post("/dashboard/billing/runs/new/", {"period": "2026-10"}).url
    pk = int(url.rstrip("/").split("/")[-1])
    assert b"Recomputed" in amos.post(f"/dashboard/billing/runs/{pk}/recompute/", follow=True).content


def test_meter_readers_and_clients_do_not_see_billing(tenant) -> None:  # type: ignore[no-untyped-def]
    for email in ("ari@alpha.test", "carol@alpha.test"):
        browser = staff(email)
        for url in ("/dashboard/billing/", "/dashboard/billing/invoices/", "/dashboard/billing/credit-notes/",
                    "/dashboard/billing/rules/"):
            assert browser.get(url).status_code == 403, (email, url)
        assert browser.post("/dashboard/billing/runs/new/", {"period": "2026-10"}).status_code == 403


def test_invoices_list_filters_and_has_a_pinned_query_count(october, alpha) -> None:  # type: ignore[no-untyped-def]
    anne = staff("anne@alpha.test")
    anne.post("/dashboard/billing/runs/new/", {"period": "2026-10"})
    page = anne.get("/dashboard/billing/invoices/", {"period": "2026-10", "status": "draft"})
    assert page.status_code == 200 and b"Page Client 0" in page.content and b"Page Client 1" in page.content
    assert b"Page Client 0" not in anne.get("/dashboard/billing/invoices/", {"status": "paid"}).content
    assert b"Page Client 1" in anne.get("/dashboard/billing/invoices/", {"q": "page client 1"}).content

    def queries(**params: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert anne.get("/dashboard/billing/invoices/", params).status_code == 200
        return len(ctx.captured_queries)

    # One client's invoice or all of them: the same number of queries.
    assert queries(client=str(october[0].pk)) == queries(period="2026-10")


def test_credit_note_from_the_invoice_page(october, alpha) -> None:  # type: ignore[no-untyped-def]
    anne = staff("anne@alpha.test")
    run_url = anne.post("/dashboard/billing/runs/new/", {"period": "2026-10"}).url
    anne.post(run_url + "finalize/", {"confirm": "2026-10"})
    with tenant_context(alpha):
        invoice = Invoice.objects.get(client=october[1])  # 420.00
    page = anne.get(f"/dashboard/billing/invoices/{invoice.pk}/")
    assert b"Issue a credit note" in page.content and b'data-testid="invoice-total">KES 420.00<' in page.content
    refused = anne.post(f"/dashboard/billing/invoices/{invoice.pk}/credit/", {"amount": "999", "reason": "Too high"})
    assert refused.status_code == 400 and b"at most KES 420.00" in refused.content and b'value="Too high"' in refused.content
    ok = anne.post(f"/dashboard/billing/invoices/{invoice.pk}/credit/", {"amount": "20", "reason": "Leak allowance"},
                   follow=True)
    assert b"Credit note CN-2026-" in ok.content and b'data-testid="balance-due">KES 400.00<' in ok.content
    assert b"Leak allowance" in anne.get("/dashboard/billing/credit-notes/").content
    with tenant_context(alpha):
        assert CreditNote.objects.get(invoice=invoice).created_by.email == "anne@alpha.test"


def test_adjustment_from_the_statement_page(october, alpha) -> None:  # type: ignore[no-untyped-def]
    anne = staff("anne@alpha.test")
    url = f"/dashboard/clients/{october[1].pk}/adjust/"
    bad = anne.post(url, {"amount": "0", "reason": "Nothing"})
    assert bad.status_code == 400 and b"must not be zero" in bad.content
    ok = anne.post(url, {"amount": "75.50", "reason": "Reconnection fee"}, follow=True)
    assert b"Adjustment ADJ-2026-" in ok.content and b'data-testid="balance">KES 75.50<' in ok.content
    with tenant_context(alpha):
        assert LedgerEntry.objects.get(client=october[1]).description == "Reconnection fee"
    assert staff("ari@alpha.test").post(url, {"amount": "5", "reason": "x"}).status_code == 403


def test_billing_rules_page(tenant, alpha) -> None:  # type: ignore[no-untyped-def]
    amos = staff("amos@alpha.test")
    bad = amos.post("/dashboard/billing/rules/", {"due_days": "x", "penalty_percent": "150", "penalty_grace_days": "3"})
    assert bad.status_code == 400 and b"whole number of days" in bad.content and b"between 0 and 100" in bad.content
    assert amos.post("/dashboard/billing/rules/", {"due_days": "21", "penalty_percent": "2.5",
                                                   "penalty_grace_days": "5"}).status_code == 302
    with tenant_context(alpha):
        rules = BillingSettings.load()
        assert (rules.due_days, rules.penalty_percent, rules.penalty_grace_days) == (21, Decimal("2.50"), 5)
    anne = staff("anne@alpha.test")
    assert anne.get("/dashboard/billing/rules/").status_code == 200
    assert anne.post("/dashboard/billing/rules/", {"due_days": "1", "penalty_percent": "0",
                                                   "penalty_grace_days": "0"}).status_code == 403


def test_the_portal_shows_only_the_clients_own_issued_bills(october, alpha) -> None:  # type: ignore[no-untyped-def]
    anne = staff("anne@alpha.test")
    run_url = anne.post("/dashboard/billing/runs/new/", {"period": "2026-10"}).url
    carol = staff("carol@alpha.test")
    assert b"No bills yet" in carol.get("/portal/bills/").content  # a draft is not shown
    anne.post(run_url + "finalize/", {"confirm": "2026-10"})
    with tenant_context(alpha):
        own = Invoice.objects.get(client=october[0])
        other = Invoice.objects.get(client=october[1])
    bills = carol.get("/portal/bills/")
    assert own.number.encode() in bills.content and other.number.encode() not in bills.content
    assert b"balance to pay <strong>KES 1,950.00" in bills.content
    detail = carol.get(f"/portal/bills/{own.pk}/")
    assert detail.status_code == 200 and b"Water 10\xe2\x80\x9330 m\xc2\xb3" in detail.content
    assert carol.get(f"/portal/bills/{other.pk}/").status_code == 404
    home = carol.get("/portal/")
    assert b'data-testid="portal-balance">KES 1,950.00<' in home.content and b"View bill" in home.content
    assert anne.get("/portal/bills/").status_code == 403


def test_reversing_an_adjustment_from_the_statement(october, alpha) -> None:  # type: ignore[no-untyped-def]
    anne = staff("anne@alpha.test")
    anne.post(f"/dashboard/clients/{october[1].pk}/adjust/", {"amount": "40", "reason": "Wrong fee"})
    with tenant_context(alpha):
        entry = LedgerEntry.objects.get(client=october[1], kind="adjustment")
    page = anne.get(f"/dashboard/clients/{october[1].pk}/statement/")
    assert f"Reverse {entry.reference}".encode() in page.content
    done = anne.post(f"/dashboard/clients/{october[1].pk}/entries/{entry.pk}/reverse/", {"reason": "Posted twice"},
                     follow=True)
    assert b"reversed." in done.content and b'data-testid="balance">KES 0.00<' in done.content
    # An entry of another client cannot be reversed through this client's page.
    assert anne.post(f"/dashboard/clients/{october[0].pk}/entries/{entry.pk}/reverse/",
                     {"reason": "x"}).status_code == 404


def test_discarding_a_draft_from_its_page(october, alpha) -> None:  # type: ignore[no-untyped-def]
    amos = staff("amos@alpha.test")
    url = amos.post("/dashboard/billing/runs/new/", {"period": "2026-10"}).url
    assert b"Discard draft" in amos.get(url).content
    done = amos.post(url + "discard/", follow=True)
    assert b"was discarded" in done.content
    with tenant_context(alpha):
        assert not BillingRun.objects.filter(period="2026-10").exists()
    assert staff("ari@alpha.test").post(url + "discard/").status_code == 403
