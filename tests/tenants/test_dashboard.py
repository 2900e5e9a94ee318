from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from accounts.models import APIKey, AuditEvent
from accounts.services import api_key_create
from tests.conftest import ALPHA_PEOPLE, login

SETTINGS_QUERIES = 7


def _as(persona: str) -> Client:
    client = Client(HTTP_HOST="alpha.majismart.localhost")
    login(client, ALPHA_PEOPLE[persona].email)
    return client


def test_the_dashboard_lays_out_the_navigation_to_come(alpha) -> None:  # type: ignore[no-untyped-def]
    html = _as("alice").get("/dashboard/").content.decode()
    for section in ("Clients", "Meters", "Readings", "Billing", "Payments", "Reports", "Settings"):
        assert section in html
    assert "Alpha Water" in html


@pytest.mark.parametrize("persona", ["amos", "anne", "ari"])
def test_staff_see_settings_without_secrets_or_keys(alpha, persona: str) -> None:  # type: ignore[no-untyped-def]
    response = _as(persona).get("/dashboard/settings/")
    assert response.status_code == 200
    html = response.content.decode()
    assert alpha.callback_token not in html
    assert 'id="api-keys"' not in html


def test_the_owner_sees_callback_urls_and_manages_api_keys(alpha) -> None:  # type: ignore[no-untyped-def]
    owner = _as("alice")
    html = owner.get("/dashboard/settings/").content.decode()
    assert f"http://alpha.majismart.localhost/payments/c2b/confirmation/{alpha.callback_token}/" in html.replace("https://", "http://")
    created = owner.post("/dashboard/settings/api-keys/", {"name": "Smart meters", "role": "meter_reader"})
    assert created.status_code == 201 and "no-store" in created["Cache-Control"]
    raw = created.context["new_key"]["raw"]
    with tenant_context(alpha):
        from django.contrib.sessions.models import Session

        assert not any(raw in str(s.get_decoded()) for s in Session.objects.all())
    connection.set_schema_to_public()
    assert raw in created.content.decode()
    # Shown once: the next visit no longer has it.
    assert raw not in owner.get("/dashboard/settings/").content.decode()
    me = Client(HTTP_HOST="alpha.majismart.localhost", HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/me/")
    assert me.json()["role"] == "meter_reader"
    with tenant_context(alpha):
        key = APIKey.objects.get(name="Smart meters")
    connection.set_schema_to_public()
    owner.post(f"/dashboard/settings/api-keys/{key.prefix}/revoke/")
    assert Client(HTTP_HOST="alpha.majismart.localhost", HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/me/").status_code == 401
    with tenant_context(alpha):
        actions = list(AuditEvent.objects.filter(object_repr__startswith="Smart meters").values_list("action", "actor"))
    assert ("api_key.created", "alice@alpha.test") in actions and ("api_key.revoked", "alice@alpha.test") in actions


@pytest.mark.parametrize("persona", ["amos", "ari", "carol"])
def test_only_the_owner_may_create_or_revoke_keys(alpha, persona: str) -> None:  # type: ignore[no-untyped-def]
    client = _as(persona)
    assert client.post("/dashboard/settings/api-keys/", {"name": "sneaky", "role": "owner"}).status_code == 403
    with tenant_context(alpha):
        assert not APIKey.objects.filter(name="sneaky").exists()
        key, _raw = api_key_create(name="victim")
    assert client.post(f"/dashboard/settings/api-keys/{key.prefix}/revoke/").status_code == 403


def test_another_providers_key_cannot_be_revoked_from_here(alpha, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(beta):
        key, _raw = api_key_create(name="beta key")
    connection.set_schema_to_public()
    assert _as("alice").post(f"/dashboard/settings/api-keys/{key.prefix}/revoke/").status_code == 404
    with tenant_context(beta):
        assert APIKey.objects.get(pk=key.pk).revoked_at is None


def test_the_settings_page_has_a_pinned_query_count(alpha, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    owner = _as("alice")
    with tenant_context(alpha):
        for i in range(15):
            api_key_create(name=f"key {i}", created_by=None)
    connection.set_schema_to_public()
    # two search_path SETs, host→domain, session, user, primary domain, the key list: constant in the key count
    with django_assert_num_queries(SETTINGS_QUERIES):
        response = owner.get("/dashboard/settings/")
    assert response.content.decode().count("mjs_") >= 15
