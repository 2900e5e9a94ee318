"""The OpenAPI schema says what the API does (shared/API.md): lists paginated, every error an
operation can answer listed. `make contract` checks the running API against it (schemathesis);
these keep the schema itself honest and warning-free."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.core.management import call_command

if TYPE_CHECKING:
    from pathlib import Path

    from rest_framework.test import APIClient

LISTS = ("/api/v1/billing-runs/", "/api/v1/clients/", "/api/v1/credit-notes/", "/api/v1/invoices/",
         "/api/v1/messages/", "/api/v1/meters/", "/api/v1/payments/", "/api/v1/staff/", "/api/v1/tariffs/",
         "/api/v1/payment-plans/", "/api/v1/disconnections/", "/api/v1/disconnections/candidates/")
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [(path, method, op) for path, item in schema["paths"].items()
            for method, op in item.items() if method in METHODS]


def test_it_generates_a_valid_schema_without_warnings(tmp_path: Path) -> None:
    from drf_spectacular.drainage import GENERATOR_STATS

    GENERATOR_STATS.reset()  # only this generation's warnings count
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/v1/clients/{id}/pay-link/" in out.read_text()


def test_every_list_is_paginated(schema: dict) -> None:
    for path in LISTS:
        op = schema["paths"][path]["get"]
        ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        body = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert set(body["properties"]) == {"count", "next", "previous", "results"}, path
        assert body["properties"]["results"]["type"] == "array", path
        assert {p["name"] for p in op["parameters"]} >= {"page", "page_size"}, path
        assert "404" in op["responses"], path  # a page past the end


def test_no_list_is_documented_as_a_bare_array(schema: dict) -> None:
    for path, method, op in _operations(schema):
        for code, response in op["responses"].items():
            for media in response.get("content", {}).values():
                assert media["schema"].get("type") != "array", (method, path, code)


def test_every_operation_lists_the_errors_it_can_answer(schema: dict) -> None:
    for path, method, op in _operations(schema):
        codes = set(op["responses"])
        assert {"401", "403"} <= codes, (method, path)
        if "{id}" in path:
            assert "404" in codes, (method, path)
        if method != "get":
            assert "400" in codes, (method, path)
        if "requestBody" in op:
            assert "415" in codes, (method, path)
        assert "500" not in codes
    errors = schema["components"]["schemas"]
    assert errors["Error"]["required"] == ["detail"]
    assert "additionalProperties" in errors["ValidationError"]
    assert "400" in schema["paths"]["/api/v1/invoices/"]["get"]["responses"]  # its filters are checked


def test_bulk_readings_are_documented_as_the_list_they_are(schema: dict) -> None:
    body = schema["paths"]["/api/v1/readings/bulk/"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["type"] == "array"


def test_a_path_under_the_api_that_does_not_exist_is_a_json_404(alpha_api: APIClient) -> None:
    for method, path in (("get", "/api/v1/clients/abc/"), ("get", "/api/v1/nothing-here/"),
                         ("post", "/api/v1/billing-runs/x/finalize/"), ("patch", "/api/v1/clients/-1/")):
        response = getattr(alpha_api, method)(path, {}, format="json")
        assert response.status_code == 404, (method, path)
        assert response["Content-Type"] == "application/json", (method, path)
        assert response.json() == {"detail": "Not found."}
    # A missing trailing slash is still redirected to the endpoint, as before.
    redirect = alpha_api.get("/api/v1/clients")
    assert redirect.status_code == 301 and redirect["Location"].endswith("/api/v1/clients/")


def test_a_page_past_the_end_is_the_documented_404(alpha_api: APIClient) -> None:
    response = alpha_api.get("/api/v1/clients/", {"page": 999})
    assert response.status_code == 404 and response.json() == {"detail": "Invalid page."}


def test_an_impossible_payment_time_is_a_400_not_a_500(alpha_api: APIClient) -> None:
    # Found by `make contract`: a well-formed but impossible time reached datetime() and answered 500.
    response = alpha_api.post("/api/v1/payments/", {"client": 1, "amount": "10.00", "method": "cash",
                                                   "reference": "R1", "paid_at": "2024-01-01T12:99:00Z"},
                              format="json")
    assert response.status_code == 400 and "paid_at" in response.json()
