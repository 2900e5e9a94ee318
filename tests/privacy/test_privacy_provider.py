"""Closing a provider's account from Django admin: personal data erased at once, records kept
under pseudonyms, the schema erased only once retention has run out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client as Http
from django.utils import timezone
from django_tenants.utils import schema_context, schema_exists

from accounts.models import APIKey, User
from accounts.services import api_key_create
from billing.models import LedgerEntry
from billing.selectors import client_balance
from billing.services import opening_balances_post
from clients.models import Category, Client
from privacy.models import ErasureRecord
from privacy.provider import (
    ProviderClosureError,
    provider_close,
    provider_erase,
    records_kept_until,
)
from tenants.models import Provider, ProviderEvent
from tenants.services import provider_create
from tests.billing_helpers import D
from tests.conftest import PASSWORD
from tests.two_factor_helpers import enrolled_admin_login


def _admin(public_client: Http) -> Http:
    assert enrolled_admin_login(public_client, "root@platform.test").status_code == 302
    return public_client


@pytest.fixture
def closing(db):  # type: ignore[no-untyped-def]
    provider = provider_create(name="Closing Water", slug="closing-water", owner_email="owner@closing.test",
                               owner_password=PASSWORD, owner_name="Olive Owner").provider
    with schema_context(provider.schema_name):
        domestic = Category.objects.get(code="domestic")
        user = User.objects.create_user("kamau@closing.test", PASSWORD, full_name="Kamau", role="client")
        clients = [Client.objects.create(account_number=f"CL{n}", full_name=f"Client Number{n}", category=domestic,
                                         phone=f"+25470000000{n}", opening_balance=D("100.00") * n,
                                         user=user if n == 1 else None) for n in (1, 2, 3)]
        opening_balances_post(clients, actor="test")
        api_key_create(name="field app")
    connection.set_schema_to_public()
    return provider


def test_closing_erases_personal_data_and_keeps_the_books(public_client, closing) -> None:  # type: ignore[no-untyped-def]
    admin = _admin(public_client)
    response = admin.post("/admin/tenants/provider/", {"action": "close", "_selected_action": [closing.pk]}, follow=True)
    assert b"Closed Closing Water: 3 clients" in response.content
    closing.refresh_from_db()
    assert closing.status == "suspended"
    assert ProviderEvent.objects.filter(provider=closing, action="closed", actor="root@platform.test").exists()
    with schema_context(closing.schema_name):
        assert ErasureRecord.objects.filter(reason="provider_closed").count() == 3
        assert all(c.full_name.startswith("Erased client PSN-") and c.phone == "" for c in Client.objects.all())
        assert not User.objects.exists()  # the owner, staff and the client's login
        assert not APIKey.objects.filter(revoked_at__isnull=True).exists()
        assert [client_balance(c.pk) for c in Client.objects.order_by("account_number")] == [
            D("100.00"), D("200.00"), D("300.00")]
    connection.set_schema_to_public()
    assert Http(HTTP_HOST="closing-water.majismart.localhost").get("/").status_code == 403


def test_the_schema_is_erased_only_after_retention(public_client, closing) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProviderClosureError, match="not closed"):
        provider_erase(provider=closing, actor="root")
    provider_close(provider=closing, actor="root")
    until = records_kept_until(closing)
    assert until is not None and until.year == timezone.localdate().year + 7
    admin = _admin(public_client)
    refused = admin.post("/admin/tenants/provider/", {"action": "erase", "_selected_action": [closing.pk]}, follow=True)
    assert b"must be kept until" in refused.content and schema_exists(closing.schema_name)

    # Seven years and a day later: retention removes the last records, then the schema goes.
    later = until + timedelta(days=1)
    provider_erase(provider=closing, actor="root", now=later)
    assert not schema_exists("closing-water")
    assert not Provider.objects.filter(slug="closing-water").exists()


def test_a_provider_with_recent_records_keeps_its_schema(closing) -> None:  # type: ignore[no-untyped-def]
    provider_close(provider=closing, actor="root")
    with schema_context(closing.schema_name):
        assert LedgerEntry.objects.count() == 3
    with pytest.raises(ProviderClosureError, match="must be kept until"):
        provider_erase(provider=closing, actor="root", now=timezone.now() + timedelta(days=365 * 6))
    assert schema_exists("closing-water")
