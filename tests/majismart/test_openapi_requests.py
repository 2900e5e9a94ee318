"""The OpenAPI schema holds for real requests. Every write operation of the API is sent, through
the test client as the alpha manager's API key, bodies the schema allows and bodies it forbids:

- an allowed body is answered with a status the operation documents, and the answer's body is
  what the schema says for that status;
- a forbidden body (made from the schema itself: each field in turn left out when required, of
  the wrong type, null when not nullable, too long, off its choices or pattern, below or above
  its bounds, of the wrong format) is refused with the documented 400 naming that field. A
  serializer that takes something its schema forbids fails here, as does an undocumented answer.

`make contract` does the same against a running server with generated requests (schemathesis);
this is the quick, deterministic check of the same promise.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from jsonschema import Draft4Validator, FormatChecker

if TYPE_CHECKING:
    from rest_framework.test import APIClient

WRITES = ("post", "put", "patch", "delete")
FORMATS = FormatChecker(("date", "email"))


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or bool(datetime.fromisoformat(value.replace("Z", "+00:00")))


# --- the schema as JSON Schema ------------------------------------------------------------------
def json_schema(node: Any, direction: str) -> Any:
    """OpenAPI 3.0's schema objects as JSON Schema (draft 4, whose boolean exclusiveMinimum they
    share): `nullable` as a null alternative; in a request no readOnly property, in a response
    no writeOnly one."""
    if isinstance(node, list):
        return [json_schema(item, direction) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: json_schema(v, direction) for k, v in node.items() if k not in ("properties", "nullable")}
    if "properties" in node:
        hidden = "readOnly" if direction == "request" else "writeOnly"
        dropped = {name for name, prop in node["properties"].items() if prop.get(hidden)}
        out["properties"] = {name: json_schema(prop, direction) for name, prop in node["properties"].items()
                             if name not in dropped}
        if "required" in out:
            out["required"] = [name for name in out["required"] if name not in dropped]
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


@dataclass
class Contract:
    schema: dict

    def operation(self, method: str, path: str) -> dict:
        return self.schema["paths"][path][method]

    def validator(self, node: dict, direction: str) -> Draft4Validator:
        components = json_schema(self.schema["components"], direction)
        return Draft4Validator({"allOf": [json_schema(node, direction)], "components": components},
                               format_checker=FORMATS)

    def body_schema(self, method: str, path: str) -> dict:
        return self.operation(method, path)["requestBody"]["content"]["application/json"]["schema"]

    def resolve(self, node: dict) -> dict:
        while "$ref" in node:
            node = self.schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        if len(node.get("allOf", ())) == 1:
            node = {**{k: v for k, v in node.items() if k != "allOf"}, **self.resolve(node["allOf"][0])}
        return node

    def check_request(self, method: str, path: str, body: object) -> list[str]:
        """The schema's objections to a request body (none: it is allowed)."""
        return [e.message for e in self.validator(self.body_schema(method, path), "request").iter_errors(body)]

    def check_response(self, method: str, path: str, response: Any) -> None:
        responses = self.operation(method, path)["responses"]
        code = str(response.status_code)
        assert code in responses, f"{method.upper()} {path} answered {code}, undocumented: {response.content[:300]!r}"
        content = responses[code].get("content")
        if not content:
            return
        media = response["Content-Type"].split(";")[0].strip()
        assert media in content, f"{method.upper()} {path} {code}: {media} undocumented"
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in self.validator(content[media]["schema"], "response").iter_errors(response.json())]
        assert not errors, f"{method.upper()} {path} {code}: the body is not as documented: {errors}"


@pytest.fixture(scope="module")
def contract() -> Contract:
    from drf_spectacular.generators import SchemaGenerator

    return Contract(SchemaGenerator().get_schema(request=None, public=True))


# --- bodies the schema forbids, made from it ----------------------------------------------------
NOT_A_VALUE = {"not": "a value"}


def forbidden_values(contract: Contract, prop: dict) -> Iterator[tuple[str, object]]:
    """(what is wrong, a value) for one property, each one its schema refuses."""
    prop = contract.resolve(prop)
    branches = [contract.resolve(b) for b in prop.get("oneOf", prop.get("anyOf", [])) or [prop]]
    kinds = {b.get("type") for b in branches}
    if "object" not in kinds:
        yield "an object", NOT_A_VALUE
    if not prop.get("nullable") and not any(b.get("enum") == [None] for b in branches):
        yield "null", None
    enums = [v for b in branches for v in b.get("enum", ()) if v not in (None, "")]
    if enums:
        yield "off its choices", "not-a-choice"
    for b in branches:
        if "maxLength" in b and b["maxLength"]:
            yield "too long", "9" * (b["maxLength"] + 1)
        if "pattern" in b:
            yield "off its pattern", "not a match!"
        if b.get("format") in ("date", "date-time"):
            yield "not a date", "not-a-date"
        if b.get("format") == "email":
            yield "not an email", "not-an-email"
        if b.get("type") == "integer":
            yield "not a number", "twelve"
            if "minimum" in b:
                yield "below its minimum", b["minimum"] - 1
            if "maximum" in b:
                yield "above its maximum", b["maximum"] + 1
        if b.get("type") == "boolean":
            yield "not a boolean", "maybe"
        if b.get("type") == "array":
            yield "not a list", "not a list"
            if b.get("minItems"):
                yield "too few items", []


def forbidden_bodies(contract: Contract, body_schema: dict, valid: dict) -> Iterator[tuple[str, str, dict]]:
    """(field at fault, what is wrong, the body): `valid` with one fault each, the faults of a
    list of objects (a tariff's blocks) made in its first item."""
    node = contract.resolve(body_schema)
    for name in node.get("required", ()):
        yield name, "left out", {k: v for k, v in valid.items() if k != name}
    for name, prop in node["properties"].items():
        for what, value in forbidden_values(contract, prop):
            yield name, what, {**valid, name: value}
        items = contract.resolve(prop).get("items")
        if items and name in valid and valid[name]:
            item_schema = contract.resolve(items)
            for inner, inner_prop in item_schema.get("properties", {}).items():
                for what, value in forbidden_values(contract, inner_prop):
                    body = copy.deepcopy(valid)
                    body[name][0][inner] = value
                    yield name, f"{inner} {what}", body


# --- the operations ---------------------------------------------------------------------------
@dataclass
class Case:
    """One write operation: its path in the schema and as sent, the bodies it must take (each
    sent in turn: one that makes something may use the ids of those before)."""

    method: str
    path: str
    url: str
    valid: list[dict] = field(default_factory=list)
    statuses: tuple[int, ...] = (200, 201)


@dataclass
class World:
    client_id: int
    invoice_id: int
    meter_serial: str
    staff_id: int
    payment_id: int = 0
    work_order_id: int = 0  # one to complete
    other_work_order_id: int = 0  # one that could not be done
    zone_code: str = "schema-zone"  # a zone, for its bulk meter
    leak_alert_id: int = 0  # an open leak alert, to close


@pytest.fixture
def world(tenant) -> World:  # type: ignore[no-untyped-def]
    from accounts.models import User
    from billing.fees import fee_create
    from billing.models import Invoice
    from tests.billing_helpers import billed_twice, metered

    client = billed_twice("Schema Client")
    fee_create(actor="test", code="reconnection", name="Reconnection fee", amount=Decimal("1000.00"), kind="fee")
    _, meter = metered("Schema Meter")
    from clients.models import Zone

    Zone.objects.create(code="schema-zone", name="Schema zone")
    invoice = Invoice.objects.filter(client=client, status=Invoice.Status.ISSUED).order_by("period").first()
    assert invoice is not None
    from django.utils import timezone

    from fieldwork.models import WorkOrder
    from fieldwork.services import work_order_open

    done, not_done = (work_order_open(client=meter.client, kind=WorkOrder.Kind.SERVICE, due_on=timezone.localdate(),
                                      meter=meter, actor="test") for _ in range(2))
    from meters.models import LeakEpisode

    alert = LeakEpisode.objects.create(meter=metered("Leak Client")[1], rule="spike", started=timezone.now(),
                                       first_read_at=timezone.now(), last_read_at=timezone.now(),
                                       m3_since=Decimal("25.000"), threshold=Decimal("20.000"))
    return World(client_id=client.pk, invoice_id=invoice.pk, meter_serial=meter.serial,
                 staff_id=User.objects.get(email="anne@alpha.test").pk, work_order_id=done.pk,
                 other_work_order_id=not_done.pk, leak_alert_id=alert.pk)


def cases(w: World) -> list[Case]:
    reading = {"meter": w.meter_serial, "value": "12.500", "read_at": "2026-11-20T08:00:00+03:00"}
    return [
        Case("post", "/api/v1/clients/", "/api/v1/clients/", [
            {"full_name": "Wanjiru Kamau", "phone": "0712345678", "category": "domestic"},
            {"full_name": "Otieno Estates Ltd", "category": "domestic", "account_number": "oe-2026/1",
             "email": "accounts@otieno.example", "status": "active", "opening_balance": "1,250.50",
             "location": "Plot 9, Nyali", "zone": None, "national_id": "12345678"}]),
        Case("patch", "/api/v1/clients/{id}/", f"/api/v1/clients/{w.client_id}/", [
            {"location": "Plot 12"}, {"phone": "+254712000111", "status": "disconnected"}]),
        Case("post", "/api/v1/tariffs/", "/api/v1/tariffs/", [
            {"code": "dom-27", "name": "Domestic 2027", "category": "domestic", "effective_from": "2027-01-01",
             "fixed_charge": "120.00", "sewerage_percent": "25", "blocks": [
                 {"up_to": "10.000", "price": "45.00"}, {"up_to": None, "price": "60.00"}]}]),
        Case("post", "/api/v1/billing-runs/", "/api/v1/billing-runs/", [{"period": "2026-11"}, {"period": "2026-11"}]),
        Case("post", "/api/v1/credit-notes/", "/api/v1/credit-notes/", [
            {"invoice": w.invoice_id, "amount": "100.00", "reason": "Meter misread"}]),
        Case("post", "/api/v1/clients/{id}/adjustments/", f"/api/v1/clients/{w.client_id}/adjustments/", [
            {"amount": "150.00", "reason": "Reconnection fee"}, {"amount": "-50", "reason": "Goodwill"}]),
        Case("post", "/api/v1/payments/", "/api/v1/payments/", [
            {"client": w.client_id, "amount": "1,500.00", "method": "cash", "reference": "RCPT-77"},
            {"client": w.client_id, "amount": "250", "method": "bank", "reference": "BNK-1",
             "paid_at": "2026-11-20T10:00:00+03:00"},
            {"client": w.client_id, "amount": "250", "method": "bank", "reference": "BNK-1",  # the same again
             "paid_at": "2026-11-20T10:00:00+03:00"}]),
        Case("post", "/api/v1/meters/", "/api/v1/meters/", [
            {"serial": "SCHEMA-1", "client": w.client_id, "installed_on": "2026-11-01"},
            {"serial": "SCHEMA-2", "kind": "client", "client": w.client_id, "zone": None, "installed_on": "2026-11-01"},
            {"serial": "SCHEMA-B", "kind": "bulk", "zone": w.zone_code, "client": None, "installed_on": "2026-11-01",
             "initial_reading": "1000.5"}]),
        Case("post", "/api/v1/readings/", "/api/v1/readings/", [reading, reading,
                                                               {**reading, "value": "13", "reason": "",
                                                                "read_at": "2026-11-21T08:00:00+03:00",
                                                                "note": "Read by the caretaker"}]),
        Case("post", "/api/v1/staff/", "/api/v1/staff/", [
            {"email": "newcomer@alpha.test", "role": "accountant", "full_name": "New Comer"}]),
        Case("patch", "/api/v1/staff/{id}/", f"/api/v1/staff/{w.staff_id}/", [
            {"role": "meter_reader"}, {"is_active": True, "email": "anne@alpha.test"}]),
        Case("post", "/api/v1/payment-plans/", "/api/v1/payment-plans/", [
            {"client": w.client_id, "instalments": 3, "first_due": "2026-12-01", "down_payment": "100.00"}]),
        Case("post", "/api/v1/disconnections/", "/api/v1/disconnections/", [{"client": w.client_id}]),
        Case("post", "/api/v1/service-requests/", "/api/v1/service-requests/", [
            {"client": w.client_id, "kind": "leak", "description": "Pipe burst at the gate"},
            {"client": w.client_id, "kind": "billing", "description": "Why is my bill high?", "channel": "phone"}]),
        Case("post", "/api/v1/work-orders/{id}/complete/", f"/api/v1/work-orders/{w.work_order_id}/complete/", [
            {"reading": "45.500", "done_at": "2026-11-23T09:00:00+03:00", "note": "Valve checked"}]),
        Case("post", "/api/v1/work-orders/{id}/not-done/", f"/api/v1/work-orders/{w.other_work_order_id}/not-done/", [
            {"reason": "Gate locked"}]),
        Case("post", "/api/v1/fees/", "/api/v1/fees/", [
            {"code": "meter-test", "name": "Meter test fee", "amount": "500.00", "kind": "fee"},
            {"code": "deposit", "name": "Water deposit", "amount": "2,000", "kind": "deposit"},
            {"code": "waiver", "name": "Free visit", "amount": "0"}]),
        Case("post", "/api/v1/clients/{id}/charges/", f"/api/v1/clients/{w.client_id}/charges/", [
            {"fee": "reconnection"}, {"fee": "reconnection", "amount": "1,250.50", "note": "Night call-out",
                                      "bill_now": True}, {"fee": "reconnection", "amount": None, "note": ""}]),
        Case("post", "/api/v1/leak-alerts/{id}/close/", f"/api/v1/leak-alerts/{w.leak_alert_id}/close/", [
            {"note": "Checked: a tank was filling"}]),
    ]


CASE_NAMES = ["post clients", "patch client", "post tariffs", "post billing-runs", "post credit-notes",
              "post adjustments", "post payments", "post meters", "post readings", "post staff", "patch staff",
              "post payment-plans", "post disconnections", "post service-requests", "post work-order complete",
              "post work-order not-done",
              "post fees", "post charges", "post leak-alert close"]


def _send(api: APIClient, method: str, url: str, body: object) -> Any:
    return getattr(api, method)(url, body, format="json")


def test_every_write_operation_is_covered(contract: Contract) -> None:
    covered = {(c.method, c.path) for c in cases(World(1, 1, "X", 1))} | {
        ("post", "/api/v1/readings/bulk/"), ("post", "/api/v1/payments/{id}/reverse/"),
        ("post", "/api/v1/billing-runs/{id}/finalize/"), ("post", "/api/v1/billing-runs/{id}/recompute/")}
    written = {(method, path) for path, item in contract.schema["paths"].items() for method in item
               if method in WRITES}
    assert written == covered, "a write operation without its case here: add it to cases()"


@pytest.mark.parametrize("index", range(len(CASE_NAMES)), ids=CASE_NAMES)
def test_allowed_bodies_are_taken_and_answered_as_documented(index: int, contract: Contract, world: World,
                                                             alpha_api: APIClient) -> None:
    case = cases(world)[index]
    for body in case.valid:
        assert contract.check_request(case.method, case.path, body) == [], (case.path, body)
        response = _send(alpha_api, case.method, case.url, body)
        assert response.status_code in case.statuses, (case.path, body, response.content[:500])
        contract.check_response(case.method, case.path, response)


@pytest.mark.parametrize("index", range(len(CASE_NAMES)), ids=CASE_NAMES)
def test_bodies_the_schema_forbids_are_refused_as_documented(index: int, contract: Contract, world: World,
                                                             alpha_api: APIClient) -> None:
    case = cases(world)[index]
    valid = case.valid[-1]
    tried = 0
    for name, what, body in forbidden_bodies(contract, contract.body_schema(case.method, case.path), valid):
        if not contract.check_request(case.method, case.path, body):
            continue  # not a fault for this field's schema (e.g. a pattern that takes the text)
        tried += 1
        response = _send(alpha_api, case.method, case.url, body)
        assert response.status_code == 400, (f"{case.method.upper()} {case.path} took {name} {what}: "
                                             f"{body} → {response.status_code} {response.content[:300]!r}")
        contract.check_response(case.method, case.path, response)
        assert name in response.json(), (case.path, name, what, response.json())
    assert tried >= 3, case.path
    for body in ([valid], "text", 12):  # not an object
        response = _send(alpha_api, case.method, case.url, body)
        assert response.status_code == 400, (case.path, body)
        contract.check_response(case.method, case.path, response)


def test_unknown_fields_are_refused_where_the_api_refuses_them(contract: Contract, world: World,
                                                                alpha_api: APIClient) -> None:
    for case in cases(world):
        if case.path not in ("/api/v1/clients/", "/api/v1/clients/{id}/", "/api/v1/staff/", "/api/v1/staff/{id}/"):
            continue
        response = _send(alpha_api, case.method, case.url, {**case.valid[0], "colour": "blue"})
        assert response.status_code == 400 and response.json() == {"colour": ["Unknown field."]}, case.path
        contract.check_response(case.method, case.path, response)


def test_bulk_readings_report_each_forbidden_reading(contract: Contract, world: World, alpha_api: APIClient) -> None:
    path = "/api/v1/readings/bulk/"
    good = {"meter": world.meter_serial, "value": "5.000", "read_at": "2026-11-10T08:00:00+03:00"}
    assert contract.check_request("post", path, [good]) == []
    response = _send(alpha_api, "post", path, [good])
    assert response.status_code == 200 and response.json()["created"] == 1
    contract.check_response("post", path, response)
    item_schema = contract.body_schema("post", path)["items"]
    for name, what, reading in forbidden_bodies(contract, item_schema, good):
        if not contract.check_request("post", path, [reading]):
            continue
        response = _send(alpha_api, "post", path, [reading])
        assert response.status_code == 200, (name, what)
        contract.check_response("post", path, response)
        errors = response.json()["errors"]
        assert errors and errors[0]["index"] == 0 and name in errors[0]["errors"], (name, what, response.json())
    for body in ({"readings": [good]}, "text"):
        response = _send(alpha_api, "post", path, body)
        assert response.status_code == 400
        contract.check_response("post", path, response)


def test_operations_on_one_object_answer_as_documented(contract: Contract, world: World,
                                                       alpha_api: APIClient) -> None:
    paid = _send(alpha_api, "post", "/api/v1/payments/", {"client": world.client_id, "amount": "300.00",
                                                          "method": "cash", "reference": "RCPT-88"})
    assert paid.status_code == 201
    reverse = "/api/v1/payments/{id}/reverse/"
    url = f"/api/v1/payments/{paid.json()['id']}/reverse/"
    for body, status in (({"reason": NOT_A_VALUE}, 400), ({}, 400), ([], 400), ({"reason": "Entered twice"}, 200),
                         ({"reason": "Again"}, 400)):
        if status == 200:
            assert contract.check_request("post", reverse, body) == []
        response = _send(alpha_api, "post", url, body)
        assert response.status_code == status, (body, response.content)
        contract.check_response("post", reverse, response)
    run = _send(alpha_api, "post", "/api/v1/billing-runs/", {"period": "2026-11"})
    for action in ("recompute", "finalize", "finalize", "recompute"):
        response = alpha_api.post(f"/api/v1/billing-runs/{run.json()['id']}/{action}/")
        assert response.status_code in (200, 400), (action, response.content)
        contract.check_response("post", f"/api/v1/billing-runs/{{id}}/{action}/", response)


def test_an_empty_optional_value_is_none_as_the_cleaners_read_it(world: World, alpha_api: APIClient) -> None:
    # Outside the schema's formats, but taken before the serializers checked bodies: still taken.
    tariff = _send(alpha_api, "post", "/api/v1/tariffs/", {
        "code": "dom-x", "name": "Domestic X", "category": "domestic", "effective_from": "", "fixed_charge": "",
        "meter_rent": None, "blocks": [{"up_to": "10", "price": "40"}, {"up_to": "", "price": "50"}]})
    assert tariff.status_code == 201, tariff.content
    assert (tariff.json()["effective_from"], tariff.json()["fixed_charge"]) == ("2026-11-23", "0.00")
    assert tariff.json()["blocks"][-1]["up_to"] is None
    paid = _send(alpha_api, "post", "/api/v1/payments/", {"client": world.client_id, "amount": "10", "method": "cash",
                                                          "reference": "RCPT-99", "paid_at": ""})
    assert paid.status_code == 201 and paid.json()["paid_at"].startswith("2026-11-23")
    client = _send(alpha_api, "post", "/api/v1/clients/", {"full_name": "Blank Balance", "category": "domestic",
                                                          "opening_balance": "", "zone": "", "status": ""})
    assert client.status_code == 201 and client.json()["opening_balance"] == "0.00"
    assert client.json()["status"] == "active"


def test_the_checks_catch_a_body_the_schema_forbids(contract: Contract) -> None:
    # The checks themselves: a forbidden body is seen as one, an allowed one is not.
    body = {"full_name": "x" * 201, "category": "domestic"}
    assert contract.check_request("post", "/api/v1/clients/", body)
    assert not contract.check_request("post", "/api/v1/clients/", {"full_name": "x", "category": "domestic"})
    faults = {(name, what) for name, what, _ in forbidden_bodies(
        contract, contract.body_schema("post", "/api/v1/tariffs/"),
        {"code": "c", "name": "n", "category": "domestic", "blocks": [{"up_to": None, "price": "1"}]})}
    assert {("code", "left out"), ("code", "too long"), ("blocks", "too few items"),
            ("blocks", "price off its pattern")} <= faults

