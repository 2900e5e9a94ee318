"""The cash desk: a cash, bank or cheque payment recorded from the dashboard, checked as the API
checks it, recorded once however often the form is sent, its receipt sent as any other's."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import AuditEvent
from billing.selectors import client_balance
from notifications.models import Message
from payments.models import Payment
from payments.office import MSG_PAID_AT_EARLY, MSG_PAID_AT_FUTURE
from tests.billing_helpers import D, metered
from tests.notifications_helpers import at, committed, sms_ready  # noqa: F401 - the fixture
from tests.payments.test_payments_collect import as_user, carol_account  # noqa: F401 - the fixture

URL = "/dashboard/payments/record/"


def form_token(http, client_pk: int) -> str:  # type: ignore[no-untyped-def]
    page = http.get(URL, {"client": client_pk})
    assert page.status_code == 200
    return re.search(r'name="token" value="([0-9a-f]+)"', page.content.decode()).group(1)


def post(http, client_pk: int, **fields: str):  # type: ignore[no-untyped-def]
    now = timezone.localtime()
    data = {"client": str(client_pk), "amount": "300", "method": "cash", "reference": "",
            "paid_on": f"{now:%Y-%m-%d}", "paid_time": f"{now - timedelta(minutes=5):%H:%M}",
            **fields}
    if "token" not in data:
        data["token"] = form_token(http, client_pk)
    return http.post(URL, data)


@pytest.mark.parametrize(("method", "reference"), [("cash", ""), ("cash", "RB-0042"), ("bank", "EFT-778"),
                                                   ("cheque", "CHQ 001234")])
def test_each_method_is_recorded_allocated_and_opens_its_receipt(carol_account, method, reference) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    anne = as_user("anne@alpha.test")
    before = client_balance(carol_account.pk)
    response = post(anne, carol_account.pk, amount="1,664.00" if method == "bank" else "300.50", method=method,
                    reference=reference)
    assert response.status_code == 302, response.content.decode()[:2000]
    payment = Payment.objects.get()
    assert response["Location"] == f"/dashboard/payments/{payment.pk}/"
    assert (payment.method, payment.client_id, payment.status, payment.recorded_by.email) == (
        method, carol_account.pk, "matched", "anne@alpha.test")
    if reference:
        assert payment.receipt == reference
    else:
        assert re.fullmatch(r"CASH-[0-9A-F]{10}", payment.receipt)
    amount = D("1664.00") if method == "bank" else D("300.50")
    assert payment.amount == amount and client_balance(carol_account.pk) == before - amount
    assert payment.allocations.exists()
    detail = anne.get(response["Location"]).content.decode()
    assert f'href="/dashboard/payments/{payment.pk}/pdf/" data-testid="receipt-pdf"' in detail
    assert "receipt is on its way" in detail
    if method == "bank":
        assert "KES 1,664.00" in detail
    assert anne.get(f"/dashboard/payments/{payment.pk}/pdf/")["Content-Type"] == "application/pdf"
    assert AuditEvent.objects.filter(action="payment.recorded", object_repr=f"{method} {payment.receipt}").exists()


def test_bad_input_comes_back_with_its_errors_and_records_nothing(carol_account) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    anne = as_user("anne@alpha.test")
    tomorrow = timezone.localdate() + timedelta(days=1)
    cases = [
        ({"method": "bank", "reference": "  "}, "reference", "Give the receipt, bank or cheque reference."),
        ({"method": "cheque", "reference": ""}, "reference", "Give the receipt, bank or cheque reference."),
        ({"paid_on": f"{tomorrow:%Y-%m-%d}"}, "paid_at", MSG_PAID_AT_FUTURE),
        ({"paid_on": "1999-12-31"}, "paid_at", MSG_PAID_AT_EARLY),
        ({"paid_on": "2024-02-30"}, "paid_at", "Give the date (and time) of the payment."),
        ({"paid_on": ""}, "paid_at", "Give the date (and time) of the payment."),
        ({"amount": "0"}, "amount", "Enter an amount in KES above zero"),
        ({"amount": "-5"}, "amount", "Enter an amount in KES above zero"),
        ({"amount": "12.345"}, "amount", "Enter an amount in KES above zero"),
        ({"amount": "abc"}, "amount", "Enter an amount in KES above zero"),
        ({"amount": "NaN"}, "amount", "Enter an amount in KES above zero"),
        ({"amount": "1e12"}, "amount", "Enter an amount in KES above zero"),
        ({"amount": "30\x000"}, "amount", "NUL character"),
        ({"method": "bank", "reference": "EFT\x001"}, "reference", "NUL character"),
        ({"method": "mpesa", "reference": "QWE123"}, "method", '"cash", "bank" or "cheque"'),
    ]
    for fields, field, message in cases:
        response = post(anne, carol_account.pk, **fields)
        assert response.status_code == 400, (fields, response.status_code)
        html = unescape(response.content.decode())
        assert 'data-testid="record-error"' in html and message in html, (fields, html[:3000])
        assert 'data-testid="record-form"' in html  # the form is there again, as it was typed
        if field == "amount" and "\x00" not in fields["amount"]:
            assert f'value="{fields["amount"]}"' in html
    assert not Payment.objects.exists()


def test_a_double_submit_records_once(carol_account) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    anne = as_user("anne@alpha.test")
    token = form_token(anne, carol_account.pk)
    now = timezone.localtime() - timedelta(minutes=1)
    for method, reference in (("cash", ""), ("bank", "EFT-1")):
        data = {"client": carol_account.pk, "amount": "250", "method": method, "reference": reference,
                "paid_on": f"{now:%Y-%m-%d}", "paid_time": f"{now:%H:%M}", "token": token}
        first, second = anne.post(URL, data), anne.post(URL, data)
        assert first.status_code == second.status_code == 302 and first["Location"] == second["Location"]
    assert Payment.objects.count() == 2
    # The same bank reference for another amount is another payment: refused, said so.
    clash = post(anne, carol_account.pk, method="bank", reference="EFT-1", amount="999")
    assert clash.status_code == 400 and "EFT-1 is already recorded" in clash.content.decode()
    # A form without its token (tampered, or very old) is shown again, not recorded.
    stale = post(anne, carol_account.pk, token="")
    assert stale.status_code == 400 and "send it once more" in stale.content.decode()
    assert Payment.objects.count() == 2


def test_only_finance_roles_see_the_button_and_may_record(carol_account) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    for email in ("alice@alpha.test", "anne@alpha.test"):
        http = as_user(email)
        assert 'data-testid="record-payment"' in http.get("/dashboard/payments/").content.decode()
        assert 'data-testid="record-payment"' in http.get(f"/dashboard/clients/{carol_account.pk}/").content.decode()
    ari = as_user("ari@alpha.test")
    client_page = ari.get(f"/dashboard/clients/{carol_account.pk}/")
    assert client_page.status_code == 200 and 'data-testid="record-payment"' not in client_page.content.decode()
    assert ari.get(URL).status_code == 403
    now = timezone.localtime()
    denied = ari.post(URL, {"client": carol_account.pk, "amount": "100", "method": "cash", "reference": "",
                            "paid_on": f"{now:%Y-%m-%d}", "paid_time": "00:00", "token": "ab" * 16})
    assert denied.status_code == 403 and not Payment.objects.exists()


def test_the_client_is_found_by_the_register_search_and_never_another_providers(carol_account, beta) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    with tenant_context(beta):
        stranger, _ = metered("Beta Stranger")
    anne = as_user("anne@alpha.test")
    for query in (carol_account.account_number, "carol", "0712345678"):
        found = anne.get(URL, {"q": query}).content.decode()
        assert found.count('data-testid="found-client"') == 1 and f'href="?client={carol_account.pk}"' in found, query
    assert AuditEvent.objects.filter(action="clients.searched", extra_data__page="cash desk").exists()
    assert 'data-testid="found-client"' not in anne.get(URL, {"q": "Stranger"}).content.decode()
    chosen = anne.get(URL, {"client": carol_account.pk}).content.decode()
    assert 'data-testid="chosen-client"' in chosen and carol_account.account_number in chosen
    if stranger.pk != carol_account.pk:
        # Another provider's client id names no client here: refused, nothing recorded.
        response = post(anne, stranger.pk, method="cash", token="cd" * 16)
        assert response.status_code == 400 and "Unknown client." in response.content.decode()
    response = post(anne, 999999, method="cash", token="ef" * 16)
    assert response.status_code == 400 and "Unknown client." in response.content.decode()
    assert not Payment.objects.exists()


def test_the_receipt_is_sent_as_for_a_payment_through_the_api(carol_account, at) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    sms_ready()
    anne = as_user("anne@alpha.test")
    with committed():
        response = post(anne, carol_account.pk, amount="200", method="cheque", reference="CHQ-55")
    assert response.status_code == 302
    [sent] = at.wait_for_messages(1)
    assert "KES 200.00" in sent["message"] and "CHQ-55" in sent["message"]
    assert Message.objects.get(event="payment_received", channel="sms").status == "sent"


def test_the_api_checks_a_payment_as_the_cash_desk_does(carol_account, alpha_api) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    body = {"client": carol_account.pk, "amount": "1,664.00", "method": "cheque", "reference": "CHQ-9"}
    created = alpha_api.post("/api/v1/payments/", body, format="json")
    assert created.status_code == 201 and created.json()["method"] == "cheque" and created.json()["amount"] == "1664.00"
    missing = alpha_api.post("/api/v1/payments/", {**body, "reference": ""}, format="json")
    assert missing.json()["reference"] == ["Give the receipt, bank or cheque reference."]
    future = alpha_api.post("/api/v1/payments/", {**body, "reference": "CHQ-10", "paid_at": "2099-01-01T00:00:00+03:00"},
                            format="json")
    assert future.json()["paid_at"] == [MSG_PAID_AT_FUTURE]
