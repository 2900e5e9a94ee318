"""Bad input is answered 400 (API: field messages; pages: the form with its errors), or for
M-Pesa callbacks rejected or held per the Daraja contract, and never stored in a shape later
pages cannot show: NUL characters in text, impossible or far-off payment dates."""

from __future__ import annotations

import json

import pytest
from django.test import Client as Http
from django_tenants.utils import tenant_context

from billing.models import LedgerEntry, Tariff
from majismart.badinput import MSG_NUL
from meters.models import Meter, Reading
from payments.models import CallbackInbox, Payment
from payments.office import MSG_PAID_AT_EARLY, MSG_PAID_AT_FORMAT
from tests.billing_helpers import billed_twice
from tests.conftest import host_of, login
from tests.payments.test_payments import confirmation, urls

NUL = "a\x00b"
READ_AT = "2026-11-20T10:00:00+03:00"


@pytest.fixture
def billed(tenant):  # type: ignore[no-untyped-def]
    client = billed_twice()
    return client, Meter.objects.get(client=client)


def _counts(alpha) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        return (Reading.objects.count(), Tariff.objects.count(), LedgerEntry.objects.count(), Payment.objects.count())


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/readings/", {"meter": "{serial}", "value": "999", "read_at": READ_AT, "note": NUL}, "note"),
    ("/api/v1/readings/", {"meter": NUL, "value": "999", "read_at": READ_AT}, "meter"),
    ("/api/v1/tariffs/", {"code": NUL, "name": "Night", "category": "domestic", "effective_from": "2027-01-01",
                          "blocks": [{"up_to": None, "price": "5"}]}, "code"),
    ("/api/v1/clients/{client}/adjustments/", {"amount": "5.00", "reason": NUL}, "reason"),
    ("/api/v1/payments/", {"client": "{client}", "amount": "5", "method": "cash", "reference": NUL}, "reference"),
])
def test_a_nul_in_an_api_text_field_is_400_naming_it(billed, alpha, alpha_api, path, body, field) -> None:  # type: ignore[no-untyped-def]
    client, meter = billed
    before = _counts(alpha)
    body = {k: (v.format(serial=meter.serial, client=client.pk) if isinstance(v, str) and "{" in v else v)
            for k, v in body.items()}
    body = {k: (int(v) if k == "client" else v) for k, v in body.items()}
    response = alpha_api.post(path.format(client=client.pk), body, format="json")
    assert response.status_code == 400, response.content
    assert response.json() == {field: [MSG_NUL]}
    assert _counts(alpha) == before


def test_bulk_readings_report_the_row_with_a_nul_and_keep_the_others(billed, alpha, alpha_api) -> None:  # type: ignore[no-untyped-def]
    _client, meter = billed
    before = _counts(alpha)[0]
    response = alpha_api.post("/api/v1/readings/bulk/", [
        {"meter": meter.serial, "value": "999", "read_at": READ_AT, "note": NUL},
        {"meter": meter.serial, "value": "998", "read_at": "2026-11-19T10:00:00+03:00"}], format="json")
    # API.md's bulk contract: valid rows kept, each invalid one reported with its field.
    assert response.status_code == 200
    assert response.json() == {"created": 1, "unchanged": 0, "errors": [{"index": 0, "errors": {"note": [MSG_NUL]}}]}
    with tenant_context(alpha):
        assert Reading.objects.count() == before + 1
        assert not Reading.objects.filter(value=999).exists()


@pytest.mark.parametrize("path", ["/api/v1/clients/?search=%00", "/api/v1/payments/?page=%00x"])
def test_a_nul_in_an_api_query_parameter_is_400_naming_it(billed, alpha_api, path) -> None:  # type: ignore[no-untyped-def]
    response = alpha_api.get(path)
    assert response.status_code == 400
    assert response.json() == {path.split("?")[1].split("=")[0]: [MSG_NUL]}


def test_a_nul_in_the_client_search_page_is_400_naming_it(billed, alpha_client) -> None:  # type: ignore[no-untyped-def]
    login(alpha_client, "alice@alpha.test")
    response = alpha_client.get("/dashboard/clients/?q=%00")
    assert response.status_code == 400
    assert b"q: " in response.content and MSG_NUL.encode() in response.content


def test_pages_show_the_form_again_with_the_nul_error(billed, alpha, alpha_client) -> None:  # type: ignore[no-untyped-def]
    client, meter = billed
    login(alpha_client, "alice@alpha.test")
    before = _counts(alpha)
    adjust = alpha_client.post(f"/dashboard/clients/{client.pk}/adjust/", {"amount": "5", "reason": NUL})
    assert adjust.status_code == 400 and "errors" in adjust.context and adjust.context["errors"] == {"reason": [MSG_NUL]}
    tariff = alpha_client.post("/dashboard/billing/tariffs/new/", {
        "code": NUL, "name": "Night", "category": "domestic", "effective_from": "2027-01-01", "price_0": "5"})
    assert tariff.status_code == 400 and tariff.context["errors"] == {"code": [MSG_NUL]}
    assert MSG_NUL.encode() in tariff.content
    assert _counts(alpha) == before


@pytest.mark.parametrize(("paid_at", "message"), [
    ("2024-02-30T10:00:00+03:00", MSG_PAID_AT_FORMAT),
    ("2024-02-03T12:99:00+03:00", MSG_PAID_AT_FORMAT),
    ("0001-01-01T00:00:00+03:00", MSG_PAID_AT_EARLY),
    ("1999-12-31T23:00:00+03:00", MSG_PAID_AT_EARLY),
    ("2027-12-01T10:00:00+03:00", "A payment cannot be in the future."),
])
def test_impossible_or_far_off_payment_dates_are_400(billed, alpha, alpha_api, paid_at, message) -> None:  # type: ignore[no-untyped-def]
    client, _meter = billed
    response = alpha_api.post("/api/v1/payments/", {"client": client.pk, "amount": "5", "method": "cash",
                                                    "reference": "RCPT-9", "paid_at": paid_at}, format="json")
    assert response.status_code == 400 and response.json() == {"paid_at": [message]}
    assert _counts(alpha)[3] == 0


def test_validation_rejects_a_nul_account_and_an_impossible_trans_time(billed, alpha) -> None:  # type: ignore[no-untyped-def]
    client, _meter = billed
    http = Http(HTTP_HOST=host_of("alpha"))
    nul = http.post(urls(alpha)[0], json.dumps(confirmation(NUL)), content_type="application/json")
    assert nul.status_code == 200 and nul.json() == {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}
    for stamp in ("00010101000000", "20240230120000", "20241105129900"):
        old = http.post(urls(alpha)[0], json.dumps(confirmation(client.account_number, TransTime=stamp)),
                        content_type="application/json")
        assert old.json() == {"ResultCode": "C2B00016", "ResultDesc": "Rejected"}
    with tenant_context(alpha):
        assert list(CallbackInbox.objects.values_list("status", flat=True)) == ["processed"] * 4


def test_a_confirmation_with_a_nul_account_is_kept_for_reconciliation(billed, alpha, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    http = Http(HTTP_HOST=host_of("alpha"))
    with django_capture_on_commit_callbacks(execute=True):
        answer = http.post(urls(alpha)[1], json.dumps(confirmation(NUL, trans_id="NUL0000001")),
                           content_type="application/json")
    assert answer.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    with tenant_context(alpha):
        payment = Payment.objects.get(receipt="NUL0000001")
        assert (payment.status, payment.client_id, payment.account_reference) == ("unmatched", None, "a\ufffdb")


@pytest.mark.parametrize("stamp", ["00010101000000", "20240230120000", "19991231235959", "20281123100000"])
def test_a_confirmation_with_an_impossible_trans_time_is_held_and_every_page_still_shows(
        billed, alpha, alpha_api, alpha_client, django_capture_on_commit_callbacks, stamp) -> None:  # type: ignore[no-untyped-def]
    client, _meter = billed
    http = Http(HTTP_HOST=host_of("alpha"))
    with django_capture_on_commit_callbacks(execute=True):
        answer = http.post(urls(alpha)[1], json.dumps(confirmation(client.account_number, trans_id="OLD0000001",
                                                                   TransTime=stamp)), content_type="application/json")
    assert answer.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    with tenant_context(alpha):
        payment = Payment.objects.select_related("inbox").get(receipt="OLD0000001")
        # Recorded at the moment it arrived (never year 1), held for a person in reconciliation.
        assert payment.paid_at == payment.inbox.received
        assert (payment.status, payment.client_id) == ("unmatched", None)
        assert "held for review" in payment.inbox.note
    login(alpha_client, "alice@alpha.test")
    page = alpha_client.get(f"/dashboard/payments/{payment.pk}/")
    assert page.status_code == 200 and b"held for review" in page.content
    assert alpha_client.get("/dashboard/payments/").status_code == 200
    assigned = alpha_client.post(f"/dashboard/payments/{payment.pk}/reconcile/",
                                 {"account_number": client.account_number})
    assert assigned.status_code == 302
    assert alpha_client.get(f"/dashboard/payments/{payment.pk}/").status_code == 200
    pdf = alpha_client.get(f"/dashboard/payments/{payment.pk}/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    listed = alpha_api.get("/api/v1/payments/")
    assert listed.status_code == 200
    assert [(p["receipt"], p["status"]) for p in listed.json()["results"]] == [("OLD0000001", "matched")]


@pytest.mark.parametrize("query", ["from=2024-02-30", "from=0001-01-01&to=2024-13-01", "from=%00"])
def test_statement_and_payment_filters_with_bad_dates_do_not_fail(billed, alpha_client, query) -> None:  # type: ignore[no-untyped-def]
    client, _meter = billed
    login(alpha_client, "alice@alpha.test")
    expected = 400 if "%00" in query else 200
    assert alpha_client.get(f"/dashboard/clients/{client.pk}/statement/?{query}").status_code == expected
    assert alpha_client.get(f"/dashboard/payments/?{query}").status_code == expected
