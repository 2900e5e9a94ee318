from __future__ import annotations

from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context
from rest_framework.test import APIClient

from accounts.models import APIKey
from accounts.services import api_key_create, api_key_revoke
from tests.conftest import api_client, login


def test_a_bearer_key_authenticates(alpha_api: APIClient) -> None:
    response = alpha_api.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json() == {"kind": "api_key", "name": "alpha field app", "role": "manager", "provider": "alpha"}


def test_no_credentials_is_401_with_the_error_shape(alpha) -> None:  # type: ignore[no-untyped-def]
    response = api_client("alpha").get("/api/v1/provider/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_malformed_or_unknown_key_is_401(alpha) -> None:  # type: ignore[no-untyped-def]
    for key in ("nonsense", "mjs_deadbeef_wrong", "mjs_x_y_z"):
        response = api_client("alpha", key).get("/api/v1/me/")
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid or revoked API key."}


def test_a_revoked_key_stops_working(alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        key, raw = api_key_create(name="temp")
    assert api_client("alpha", raw).get("/api/v1/me/").status_code == 200
    with tenant_context(alpha):
        api_key_revoke(api_key=key, actor="test")
    assert api_client("alpha", raw).get("/api/v1/me/").status_code == 401


def test_keys_are_hashed_at_rest(alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        key, raw = api_key_create(name="hashed")
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM accounts_apikey WHERE id = %s", [key.pk])
            row = " ".join(str(v) for v in cursor.fetchone())
        assert raw not in row and raw.split("_")[2] not in row
        assert APIKey.objects.verify(raw) == key


def test_a_staff_session_works_and_a_client_session_is_forbidden(alpha_client: Client) -> None:
    login(alpha_client, "anne@alpha.test")
    me = alpha_client.get("/api/v1/me/")
    assert me.status_code == 200 and me.json()["role"] == "accountant"
    carol = Client(HTTP_HOST="alpha.majismart.localhost")
    login(carol, "carol@alpha.test")
    refused = carol.get("/api/v1/me/")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "You do not have permission to perform this action."}


def test_the_openapi_schema_and_docs_are_served_without_a_cdn(alpha_client: Client) -> None:
    schema = alpha_client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    body = schema.json()
    assert "/api/v1/me/" in body["paths"] and "/api/v1/provider/" in body["paths"]
    assert body["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    docs = alpha_client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    asset = alpha_client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200
