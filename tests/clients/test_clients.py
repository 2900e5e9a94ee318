from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from clients.models import Client
from clients.selectors import client_search
from clients.services import account_numbers_reserve, client_create
from clients.validation import MSG_CATEGORY, References, clean_client
from majismart import crypto
from tests.conftest import api_client, login

GOOD = {"full_name": "Wanjiku Kamau", "phone": "0712 345 678", "email": "Wanjiku@Example.com",
        "national_id": "12345678", "category": "domestic", "location": "Plot 14, Kahawa"}


@pytest.fixture
def in_alpha(alpha):  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        yield alpha


def _create(**changes: object) -> Client:
    cleaned, errors = clean_client({**GOOD, **changes}, References.load())
    assert errors == {}
    return client_create(actor="test", **cleaned)


def test_account_numbers_come_from_the_prefix_and_sequence(in_alpha) -> None:  # type: ignore[no-untyped-def]
    first, second = _create(), _create(full_name="Otieno Ouma")
    assert first.account_number == "ACC00001" and second.account_number == "ACC00002"
    typed = _create(full_name="Typed", account_number="acc00003")  # a migrated account number
    assert typed.account_number == "ACC00003"
    assert _create(full_name="Next").account_number == "ACC00004"  # the taken number is stepped over
    assert account_numbers_reserve(3) == ["ACC00005", "ACC00006", "ACC00007"]


def test_personal_fields_are_encrypted_at_rest_and_found_by_phone(in_alpha) -> None:  # type: ignore[no-untyped-def]
    client = _create()
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone, email, national_id, phone_index FROM clients_client WHERE id = %s", [client.pk])
        phone, email, national_id, index = cursor.fetchone()
    for stored, clear in ((phone, "712345678"), (email, "wanjiku"), (national_id, "12345678")):
        assert stored.startswith("enc1:") and clear not in stored
    fresh = Client.objects.get(pk=client.pk)
    assert (fresh.phone, fresh.email, fresh.national_id) == ("+254712345678", "wanjiku@example.com", "12345678")
    assert index == crypto.blind_index("+254712345678")
    for query in ("0712345678", "+254 712 345 678", "254712345678"):
        assert list(client_search(query=query)) == [client]
    assert list(client_search(query="wanjiku")) == [client]
    assert list(client_search(query="ACC0000")) == [client]


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"full_name": ""}, "full_name", "This field is required."),
    ({"phone": "0712"}, "phone", "Enter a valid Kenyan phone number, e.g. 0712 345 678 or +254712345678."),
    ({"category": "farm"}, "category", MSG_CATEGORY.format(value="farm", choices="commercial, domestic, institutional, kiosk")),
    ({"status": "sleeping"}, "status", "Status must be one of: active, disconnected, closed."),
    ({"opening_balance": "12.345"}, "opening_balance", "Enter an amount in KES, e.g. 1500 or -250.50 (at most 2 decimals)."),
    ({"national_id": "12-34"}, "national_id", "A national ID is 6–10 digits (passport numbers: letters and digits, up to 12)."),
    ({"email": "nope"}, "email", "Enter a valid email address."),
])
def test_bad_client_fields_get_clear_messages(in_alpha, changes: dict, field: str, message: str) -> None:  # type: ignore[no-untyped-def]
    _cleaned, errors = clean_client({**GOOD, **changes}, References.load())
    assert errors[field] == [message]


def test_the_api_creates_lists_and_patches_clients(alpha_api) -> None:  # type: ignore[no-untyped-def]
    created = alpha_api.post("/api/v1/clients/", {**GOOD, "opening_balance": "1500.50"}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["account_number"].startswith("ACC") and body["phone"] == "+254712345678"
    assert body["opening_balance"] == "1500.50" and body["category"] == "domestic"
    listing = alpha_api.get("/api/v1/clients/?search=0712345678").json()
    assert listing["count"] == 1 and listing["results"][0]["id"] == body["id"]
    patched = alpha_api.patch(f"/api/v1/clients/{body['id']}/", {"status": "disconnected"}, format="json")
    assert patched.status_code == 200 and patched.json()["status"] == "disconnected"
    bad = alpha_api.post("/api/v1/clients/", {"full_name": "", "category": "x", "colour": "red"}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()) == {"full_name", "category", "colour"}


def test_the_api_sets_and_shows_a_clients_language(alpha_api) -> None:  # type: ignore[no-untyped-def]
    """`language` (en, sw; blank: the provider's default) is an API field like the client form's:
    any case, left alone by a PATCH that does not name it, a clear message for anything else."""
    body = alpha_api.post("/api/v1/clients/", {**GOOD, "language": "SW"}, format="json").json()
    assert body["language"] == "sw" and Client.objects.get(pk=body["id"]).language == "sw"
    assert alpha_api.patch(f"/api/v1/clients/{body['id']}/", {"status": "disconnected"}, format="json").json()["language"] == "sw"
    bad = alpha_api.patch(f"/api/v1/clients/{body['id']}/", {"language": "fr"}, format="json")
    assert bad.status_code == 400 and bad.json() == {"language": ["Language must be one of: en, sw (or blank for the provider's default)."]}
    assert alpha_api.patch(f"/api/v1/clients/{body['id']}/", {"language": ""}, format="json").json()["language"] == ""
    assert alpha_api.post("/api/v1/clients/", GOOD, format="json").json()["language"] == ""


def test_another_providers_client_is_404(alpha_api, beta_api) -> None:  # type: ignore[no-untyped-def]
    body = alpha_api.post("/api/v1/clients/", GOOD, format="json").json()
    for _ in range(3):  # make sure beta has no client with that id by giving alpha a higher one
        body = alpha_api.post("/api/v1/clients/", {**GOOD, "full_name": "More"}, format="json").json()
    assert beta_api.get(f"/api/v1/clients/{body['id']}/").status_code == 404
    assert beta_api.patch(f"/api/v1/clients/{body['id']}/", {"status": "closed"}, format="json").status_code == 404
    assert beta_api.get("/api/v1/clients/").json()["count"] == 0


def test_role_limits_on_the_register(alpha) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client as HttpClient

    with tenant_context(alpha):
        client = _create()
    connection.set_schema_to_public()
    seen = {}
    for persona, email in (("reader", "ari@alpha.test"), ("accountant", "anne@alpha.test"), ("manager", "amos@alpha.test")):
        http = HttpClient(HTTP_HOST="alpha.majismart.localhost")
        login(http, email)
        detail = http.get(f"/api/v1/clients/{client.pk}/").json()
        seen[persona] = "national_id" in detail
        edit = http.patch(f"/api/v1/clients/{client.pk}/", {"location": "x"}, content_type="application/json")
        seen[persona + "_edit"] = edit.status_code
    assert seen == {"reader": False, "reader_edit": 403, "accountant": True, "accountant_edit": 403,
                    "manager": True, "manager_edit": 200}


def test_the_client_list_has_a_pinned_query_count(alpha_api, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    for i in range(12):
        alpha_api.post("/api/v1/clients/", {**GOOD, "full_name": f"Client {i}", "zone": ""}, format="json")
    with django_assert_num_queries(7):  # … and the one audit row of the request (not one per client)
        response = api_client("alpha", alpha_api._credentials["HTTP_AUTHORIZATION"].split()[1]).get("/api/v1/clients/")
    assert response.json()["count"] == 12
    assert Decimal(response.json()["results"][0]["opening_balance"]) == Decimal("0.00")
