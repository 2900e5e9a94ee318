"""The payments pages say what happened to the money, keep each form's input to itself, show
errors where they are seen, and read as cards on a phone (after a browser walk-through)."""

from __future__ import annotations

import json

from django.utils import timezone

from payments.models import CallbackInbox, Payment, PaymentRequest
from payments.services import payment_record, payment_reverse
from tests.billing_helpers import D, travel
from tests.payments.test_payments_collect import as_user, carol_account  # noqa: F401 - the fixture


def test_an_error_in_one_pay_form_leaves_the_other_as_it_was(carol_account) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    carol = as_user("carol@alpha.test")
    card = carol.post("/portal/pay/", {"method": "card", "email": "carol@example.com", "amount": "0"})
    assert card.status_code == 400
    html = card.content.decode()
    mpesa_form, card_form = html.split('data-testid="stk-form"')[1].split('data-testid="card-form"')
    assert "whole number of shillings" in card_form and "errorlist" not in mpesa_form
    assert 'id="card_amount" type="text" name="amount" inputmode="numeric" value="0"' in card_form
    assert 'value="+254712345678"' in mpesa_form and 'value="1440"' in mpesa_form  # the defaults
    mpesa = carol.post("/portal/pay/", {"method": "mpesa", "phone": "12", "amount": "100"}).content.decode()
    mpesa_form, card_form = mpesa.split('data-testid="stk-form"')[1].split('data-testid="card-form"')
    assert "Enter the M-Pesa phone number" in mpesa_form and 'value="12"' in mpesa_form
    assert "errorlist" not in card_form and 'value="1440"' in card_form


def test_a_reversed_payment_reads_as_reversed_to_the_client_and_to_staff(carol_account) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    with travel("2026-11-10"):
        payment = payment_record(method="cash", receipt="C-9", amount=D("800"), paid_at=timezone.now(),
                                 client=carol_account).payment
        payment_reverse(payment=payment, reason="Bounced cheque", actor="alice@alpha.test")
    carol = as_user("carol@alpha.test")
    history = carol.get("/portal/payments/").content.decode()
    row = history.split('data-testid="portal-payment"')[1].split("</tr>")[0]
    assert 'data-label="Status"' in row and "Reversed" in row and '<table class="stack-sm">' in history
    receipt = carol.get(f"/portal/payments/{payment.pk}/").content.decode()
    assert "no longer counts towards your bills" in receipt and "Kept as credit" not in receipt
    detail = as_user("alice@alpha.test").get(f"/dashboard/payments/{payment.pk}/").content.decode()
    assert "Nothing: the payment was reversed." in detail and "a credit on the account" not in detail


def test_the_portal_history_pages_instead_of_stopping_at_a_hundred(carol_account) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    with travel("2026-11-10"):
        for i in range(30):
            payment_record(method="cash", receipt=f"PG-{i:02d}", amount=D("10"), paid_at=timezone.now(),
                           client=carol_account)
    carol = as_user("carol@alpha.test")
    first = carol.get("/portal/payments/").content.decode()
    assert first.count('data-testid="portal-payment"') == 25 and "1–25 of 30" in first and "page=2" in first
    second = carol.get("/portal/payments/?page=2").content.decode()
    assert second.count('data-testid="portal-payment"') == 5


def test_the_reconciliation_queue_and_a_failed_action_on_a_phone_sized_page(carol_account, alpha) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from payments.callbacks import inbox_process
    from payments.inbox import confirmation_store

    body = {"TransactionType": "Pay Bill", "TransID": "RQ00000001", "TransTime": "20261105143015",
            "TransAmount": "300.00", "BusinessShortCode": "600966", "BillRefNumber": "", "InvoiceNumber": "",
            "OrgAccountBalance": "", "ThirdPartyTransID": "", "MSISDN": "254722000111",
            "FirstName": "JUMA", "MiddleName": "", "LastName": "HAMISI"}
    confirmation_store(body=json.dumps(body).encode(), headers={}, source_ip="196.201.214.200")
    inbox_process(CallbackInbox.objects.get().pk)
    unmatched = Payment.objects.get(receipt="RQ00000001")
    anne = as_user("anne@alpha.test")
    queue = anne.get("/dashboard/payments/", {"status": "unmatched"}).content.decode()
    assert "<h1>Reconciliation queue</h1>" in queue and 'data-testid="reconcile-help"' in queue
    row = queue.split('data-testid="payment-row"')[1].split("</tr>")[0]
    assert 'data-label="Payer">JUMA HAMISI<' in row and 'data-label="Account">—<' in row  # no gap for no middle name
    detail = anne.get(f"/dashboard/payments/{unmatched.pk}/").content.decode()
    assert "The payer typed no account number." in detail and "“”" not in detail
    raw = detail.split('data-testid="raw-callback">')[1].split("</pre>")[0]
    assert "254722000111" not in raw and "HAMISI" not in raw and "RQ00000001" in raw  # the payer is shown above
    assert "Nothing yet: the payment is not matched to a client." in detail
    # A failed assignment or refund says so at the top of the page, and keeps what was typed.
    wrong = anne.post(f"/dashboard/payments/{unmatched.pk}/reconcile/", {"account_number": "NO-SUCH"}).content.decode()
    top = wrong.split('data-testid="action-error"')[1].split("</div>")[0]
    assert 'href="#actions"' in top and 'id="actions"' in wrong
    assert 'value="NO-SUCH"' in wrong
    refund = anne.post(f"/dashboard/payments/{unmatched.pk}/reconcile/", {"action": "refund", "reason": "  "})
    assert refund.status_code == 400 and 'data-testid="action-error"' in refund.content.decode()


def test_the_requests_page_says_what_the_payer_was_told_and_the_mpesa_code(carol_account) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    PaymentRequest.objects.create(channel="stk", reference="ws_CO_1", client=carol_account, amount=D("100"),
                                  status="failed", result_code="1032", result_desc="Request cancelled by user",
                                  message="You cancelled the payment on your phone.")
    page = as_user("anne@alpha.test").get("/dashboard/payments/requests/").content.decode()
    row = page.split('data-testid="request-row"')[1].split("</tr>")[0]
    assert 'data-label="Told the payer"' in row and "M-Pesa code 1032" in row and "(1032)" not in row
    assert 'title="Request cancelled by user"' in row


def test_the_batch_drain_joins_a_payers_names_without_gaps(tenant) -> None:  # type: ignore[no-untyped-def]
    from payments.batch import process_confirmations
    from payments.daraja import payer_name
    from payments.inbox import confirmation_store

    assert payer_name({"FirstName": " JUMA ", "MiddleName": "", "LastName": "HAMISI"}) == "JUMA HAMISI"
    assert payer_name({"FirstName": "", "MiddleName": None}) == ""
    body = {"TransactionType": "Pay Bill", "TransID": "RQ00000002", "TransTime": "20261105143015",
            "TransAmount": "300.00", "BillRefNumber": "X", "MSISDN": "2547 ***** 111",
            "FirstName": "AMINA", "MiddleName": "", "LastName": "ALI"}
    confirmation_store(body=json.dumps(body).encode(), headers={}, source_ip="196.201.214.200")
    assert process_confirmations() == 1
    assert Payment.objects.get(receipt="RQ00000002").payer_name == "AMINA ALI"


def test_recent_requests_on_the_pay_page_are_rows_with_a_status_badge(carol_account) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    for n, status in enumerate(("failed", "paid")):
        PaymentRequest.objects.create(channel="stk", reference=f"ws_CO_R{n}", client=carol_account, amount=D("100"),
                                      status=status, message="You cancelled the payment on your phone."
                                      if status == "failed" else "Paid.")
    page = as_user("carol@alpha.test").get("/portal/pay/").content.decode()
    rows = [chunk.split("</tr>")[0] for chunk in page.split('data-testid="recent-request"')[1:]]
    assert len(rows) == 2 and 'id="pay-status"' not in page and "aria-live" not in "".join(rows)
    assert 'badge badge-ok">Paid<' in rows[0] and "Paid.</div>" not in rows[0]
    assert 'badge badge-err">Failed<' in rows[1] and "You cancelled the payment on your phone." in rows[1]


def test_a_date_filter_that_is_not_a_date_says_it_was_not_applied(carol_account) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    with travel("2026-11-10"):
        payment_record(method="cash", receipt="DT-1", amount=D("10"), paid_at=timezone.now(), client=carol_account)
    anne = as_user("anne@alpha.test")
    page = anne.get("/dashboard/payments/", {"from": "yesterday", "to": "2026-13-45"}).content.decode()
    assert "From and To: not a date" in page.split('data-testid="ignored-dates"')[1] and "DT-1" in page
    assert 'data-testid="ignored-dates"' not in anne.get("/dashboard/payments/", {"from": "2026-11-01"}).content.decode()
