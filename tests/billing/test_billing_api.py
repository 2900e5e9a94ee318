"""The billing API (shared/API.md): billing runs, invoices, credit notes and adjustments; each
endpoint checked against another provider and against roles."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from billing.models import BillingRun, Invoice
from tests.billing_helpers import metered, read
from tests.conftest import api_client, host_of, login

D = Decimal


@pytest.fixture
def october(tenant):  # type: ignore[no-untyped-def]
    """Three metered clients with readings for October 2026."""
    clients = []
    for i, used in enumerate((35, 8, 0)):
        client, meter = metered(f"Api Client {i}")
        read(meter, "100", "2026-09-30")
        read(meter, str(100 + used), "2026-10-31")
        clients.append(client)
    return clients


def test_a_run_is_created_once_per_period(alpha_api, october) -> None:  # type: ignore[no-untyped-def]
    first = alpha_api.post("/api/v1/billing-runs/", {"period": "2026-10"}, format="json")
    assert first.status_code == 201, first.content
    body = first.json()
    assert {k: body[k] for k in ("period", "status")} == {"period": "2026-10", "status": "draft"}
    assert body["invoice_count"] >= 3 and Decimal(body["total"]) >= D("1950.00") + D("420.00") + D("100.00")
    assert body["summary"]["billed"] == body["invoice_count"]
    again = alpha_api.post("/api/v1/billing-runs/", {"period": "2026-10"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    with tenant_context(_alpha()):
        assert BillingRun.objects.filter(period="2026-10").count() == 1
    listed = alpha_api.get("/api/v1/billing-runs/").json()
    assert [r["period"] for r in listed["results"]] == ["2026-10"]
    assert alpha_api.get(f"/api/v1/billing-runs/{body['id']}/").json()["summary"]["categories"][0]["category"] == "domestic"


def _alpha():  # type: ignore[no-untyped-def]
    from tenants.models import Provider

    return Provider.objects.get(slug="alpha")


@pytest.mark.parametrize(("body", "field"), [({"period": "2026-13"}, "period"), ({}, "period"),
                                              ({"period": "2099-01"}, "period"), (["2026-10"], "detail")])
def test_bad_run_requests_are_400_with_field_messages(alpha_api, tenant, body, field) -> None:  # type: ignore[no-untyped-def]
    response = alpha_api.post("/api/v1/billing-runs/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content


def test_finalize_issues_and_is_idempotent(alpha_api, october) -> None:  # type: ignore[no-untyped-def]
    run = alpha_api.post("/api/v1/billing-runs/", {"period": "2026-10"}, format="json").json()
    done = alpha_api.post(f"/api/v1/billing-runs/{run['id']}/finalize/")
    assert done.status_code == 200 and done.json()["status"] == "finalized"
    assert alpha_api.post(f"/api/v1/billing-runs/{run['id']}/finalize/").json()["finalized_at"] == done.json()["finalized_at"]
    recompute = alpha_api.post(f"/api/v1/billing-runs/{run['id']}/recompute/")
    assert recompute.status_code == 400 and "finalised" in recompute.json()["detail"][0]


def test_invoices_list_filter_and_detail(alpha_api, october) -> None:  # type: ignore[no-untyped-def]
    run = alpha_api.post("/api/v1/billing-runs/", {"period": "2026-10"}, format="json").json()
    drafts = alpha_api.get("/api/v1/invoices/", {"client": october[0].pk}).json()
    assert drafts["count"] == 1 and drafts["results"][0]["status"] == "draft" and drafts["results"][0]["number"] is None
    alpha_api.post(f"/api/v1/billing-runs/{run['id']}/finalize/")
    listed = alpha_api.get("/api/v1/invoices/", {"client": october[0].pk, "period": "2026-10"}).json()
    assert listed["count"] == 1
    inv = listed["results"][0]
    assert set(inv) >= {"id", "number", "client", "period", "consumption", "lines", "total", "balance_due",
                        "due_date", "status"}
    assert (inv["client"], inv["period"], inv["consumption"], inv["total"], inv["balance_due"], inv["status"]) == (
        october[0].pk, "2026-10", "35.000", "1950.00", "1950.00", "open")
    assert inv["number"].startswith("INV-2026-") and inv["due_date"] == "2026-12-07"
    assert inv["lines"][0] == {"kind": "water", "description": "Water 0–10 m³", "quantity": "10.000",
                               "unit_price": "40.00", "amount": "400.00"}
    assert alpha_api.get(f"/api/v1/invoices/{inv['id']}/").json() == inv
    assert alpha_api.get("/api/v1/invoices/", {"status": "open", "client": october[2].pk}).json()["count"] == 1
    assert alpha_api.get("/api/v1/invoices/", {"status": "paid", "client": october[0].pk}).json()["count"] == 0
    bad = alpha_api.get("/api/v1/invoices/", {"status": "bogus", "period": "10-2026", "client": "x"})
    assert bad.status_code == 400 and set(bad.json()) == {"status", "period", "client"}


def test_credit_notes_and_adjustments_through_the_api(alpha_api, october) -> None:  # type: ignore[no-untyped-def]
    run = alpha_api.post("/api/v1/billing-runs/", {"period": "2026-10"}, format="json").json()
    alpha_api.post(f"/api/v1/billing-runs/{run['id']}/finalize/")
    inv = alpha_api.get("/api/v1/invoices/", {"client": october[1].pk}).json()["results"][0]  # 420.00
    too_much = alpha_api.post("/api/v1/credit-notes/", {"invoice": inv["id"], "amount": "500", "reason": "x"},
                              format="json")
    assert too_much.status_code == 400 and "at most KES 420.00" in too_much.json()["amount"][0]
    assert alpha_api.post("/api/v1/credit-notes/", {"invoice": 0, "amount": "5", "reason": "x"},
                          format="json").json() == {"invoice": ["Unknown invoice."]}
    note = alpha_api.post("/api/v1/credit-notes/", {"invoice": inv["id"], "amount": "420.00",
                                                    "reason": "Meter misread"}, format="json")
    assert note.status_code == 201 and note.json()["number"].startswith("CN-2026-")
    after = alpha_api.get(f"/api/v1/invoices/{inv['id']}/").json()
    assert (after["total"], after["credited"], after["balance_due"], after["status"]) == ("420.00", "420.00", "0.00", "void")
    assert alpha_api.get("/api/v1/credit-notes/").json()["results"][0]["invoice"] == inv["id"]
    adj = alpha_api.post(f"/api/v1/clients/{october[1].pk}/adjustments/", {"amount": "150.00", "reason": "Reconnection fee"},
                         format="json")
    assert adj.status_code == 201 and adj.json()["balance"] == "150.00" and adj.json()["reference"].startswith("ADJ-")
    statement = alpha_api.get(f"/api/v1/clients/{october[1].pk}/statement/").json()
    assert [e["kind"] for e in statement["entries"]] == ["invoice", "credit_note", "adjustment"]


def test_roles_decide_who_runs_billing(alpha_client, alpha, tenant) -> None:  # type: ignore[no-untyped-def]
    login(alpha_client, "ari@alpha.test")  # meter reader
    assert alpha_client.post("/api/v1/billing-runs/", {"period": "2026-10"},
                             content_type="application/json").status_code == 403
    assert alpha_client.get("/api/v1/invoices/").status_code == 403
    accountant = Client(HTTP_HOST=host_of("alpha"))
    login(accountant, "anne@alpha.test")
    r = accountant.post("/api/v1/billing-runs/", {"period": "2026-10"}, content_type="application/json")
    assert r.status_code == 201, r.content
    assert api_client("alpha").get("/api/v1/invoices/").status_code == 401


def test_another_provider_sees_none_of_it(alpha_api, beta_api, october) -> None:  # type: ignore[no-untyped-def]
    run = alpha_api.post("/api/v1/billing-runs/", {"period": "2026-10"}, format="json").json()
    alpha_api.post(f"/api/v1/billing-runs/{run['id']}/finalize/")
    inv = alpha_api.get("/api/v1/invoices/", {"client": october[0].pk}).json()["results"][0]
    alpha_api.post("/api/v1/credit-notes/", {"invoice": inv["id"], "amount": "1", "reason": "Test"}, format="json")
    assert beta_api.get(f"/api/v1/invoices/{inv['id']}/").status_code == 404
    assert beta_api.get(f"/api/v1/billing-runs/{run['id']}/").status_code == 404
    assert beta_api.post(f"/api/v1/billing-runs/{run['id']}/finalize/").status_code == 404
    assert beta_api.post(f"/api/v1/billing-runs/{run['id']}/recompute/").status_code == 404
    assert beta_api.get("/api/v1/invoices/").json()["count"] == 0
    assert beta_api.get("/api/v1/billing-runs/").json()["count"] == 0
    assert beta_api.get("/api/v1/credit-notes/").json()["count"] == 0
    assert beta_api.post("/api/v1/credit-notes/", {"invoice": inv["id"], "amount": "1", "reason": "x"},
                         format="json").json() == {"invoice": ["Unknown invoice."]}
    assert beta_api.post(f"/api/v1/clients/{october[0].pk}/adjustments/", {"amount": "1", "reason": "x"},
                         format="json").status_code == 404


def test_the_invoice_list_has_a_pinned_query_count(alpha_api, october) -> None:  # type: ignore[no-untyped-def]
    alpha_api.post("/api/v1/billing-runs/", {"period": "2026-10"}, format="json")

    def queries(page_size: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = alpha_api.get("/api/v1/invoices/", {"page_size": page_size})
        assert len(response.json()["results"]) == min(page_size, response.json()["count"])
        return len(ctx.captured_queries)

    assert queries(1) == queries(3)
    assert queries(3) <= 8  # auth, count, page, lines (and the session/tenant set-up)


def test_recompute_through_the_api_keeps_one_draft_per_client(alpha_api, october) -> None:  # type: ignore[no-untyped-def]
    run = alpha_api.post("/api/v1/billing-runs/", {"period": "2026-10"}, format="json").json()
    alpha_api.post(f"/api/v1/billing-runs/{run['id']}/recompute/")
    with tenant_context(_alpha()):
        assert Invoice.objects.filter(run_id=run["id"], status="draft").count() == run["invoice_count"]
