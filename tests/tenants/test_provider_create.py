from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django_tenants.utils import schema_exists, tenant_context

from accounts.models import Role, User
from tenants.models import Domain, Provider, ProviderEvent
from tenants.services import (
    MSG_NAME_TAKEN,
    MSG_SLUG_FORMAT,
    MSG_SLUG_RESERVED,
    MSG_SLUG_TAKEN,
    provider_create,
)
from tests.conftest import PASSWORD, api_client


def _create(slug: str = "kisumu-water", name: str = "Kisumu Water") -> Provider:
    return provider_create(name=name, slug=slug, owner_email="Owner@Kisumu.test",
                           owner_password=PASSWORD, owner_name="Olive Owino", owner_phone="+254712345678").provider


@pytest.mark.django_db
def test_it_creates_schema_domain_and_owner() -> None:
    provider = _create()
    assert provider.schema_name == "kisumu-water"
    assert schema_exists("kisumu-water")
    assert Domain.objects.get(tenant=provider).domain == "kisumu-water.majismart.localhost"
    assert provider.status == Provider.Status.ACTIVE
    assert len(provider.callback_token) >= 24
    with tenant_context(provider):
        owner = User.objects.get()
        assert owner.email == "owner@kisumu.test"
        assert owner.role == Role.OWNER
        assert owner.check_password(PASSWORD)
    # The owner lives only in the provider's schema, not on the platform.
    connection.set_schema_to_public()
    assert not User.objects.filter(email="owner@kisumu.test").exists()
    assert ProviderEvent.objects.filter(provider=provider, action="created").exists()


@pytest.mark.django_db
def test_it_clones_the_template_with_every_migration_applied() -> None:
    provider = _create()
    with connection.cursor() as cursor:
        cursor.execute('SELECT app, name FROM "tenant_base".django_migrations ORDER BY app, name')
        template = cursor.fetchall()
        cursor.execute('SELECT app, name FROM "kisumu-water".django_migrations ORDER BY app, name')
        cloned = cursor.fetchall()
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", [provider.schema_name])
        tables = cursor.fetchone()[0]
    assert cloned == template and len(cloned) > 10
    assert tables >= 10
    with tenant_context(provider):
        assert User.objects.count() == 1  # the template's (empty) data is not someone else's


def _pending_migrations(schema: str) -> list:
    from django.db.migrations.executor import MigrationExecutor
    from django_tenants.utils import schema_context

    with schema_context(schema):
        executor = MigrationExecutor(connection)
        return executor.migration_plan(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db
def test_a_new_provider_has_no_pending_migrations() -> None:
    provider = _create()
    assert _pending_migrations(provider.schema_name) == []


@pytest.mark.django_db
def test_a_template_behind_the_code_is_migrated_before_cloning() -> None:
    # As if the template had been made before the newest app (reports: no other app refers to
    # it) existed, and by another process.
    import tenants.services

    tenants.services._template_checked = False
    with connection.cursor() as cursor:
        cursor.execute('DELETE FROM "tenant_base".django_migrations WHERE app = %s', ["reports"])
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'tenant_base' "
                       "AND table_name LIKE 'reports%%'")
        tables = ", ".join(f'"tenant_base"."{t}"' for (t,) in cursor.fetchall())
        cursor.execute(f"DROP TABLE {tables}")
    provider = _create()
    assert _pending_migrations("tenant_base") == [] and _pending_migrations(provider.schema_name) == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s "
                       "AND table_name = 'reports_position'", [provider.schema_name])
        assert cursor.fetchone()[0] == 1


@pytest.mark.django_db
def test_a_leftover_schema_is_never_adopted() -> None:
    with connection.cursor() as cursor:
        cursor.execute('CREATE SCHEMA "orphan-water"')
    with pytest.raises(ValidationError) as err:
        _create(slug="orphan-water")
    assert err.value.messages == [MSG_SLUG_TAKEN]


@pytest.mark.django_db
def test_the_operator_path_enforces_password_rules() -> None:
    with pytest.raises(ValidationError) as err:
        provider_create(name="Weak Co", slug="weak-co", owner_email="o@weak.test", owner_password="1")
    assert "This password is too short. It must contain at least 10 characters." in err.value.messages
    assert not Provider.objects.filter(slug="weak-co").exists()


@pytest.mark.django_db
def test_requests_to_its_domain_resolve_to_its_schema() -> None:
    provider = _create()
    from accounts.services import api_key_create

    with tenant_context(provider):
        _key, raw = api_key_create(name="probe")
    response = api_client("kisumu-water", raw).get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["provider"] == "kisumu-water"
    assert api_client("kisumu-water", raw).get("/api/v1/provider/").json()["name"] == "Kisumu Water"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("www", MSG_SLUG_RESERVED), ("admin", MSG_SLUG_RESERVED), ("api", MSG_SLUG_RESERVED),
        ("static", MSG_SLUG_RESERVED), ("pg-water", MSG_SLUG_RESERVED),
        ("alpha", MSG_SLUG_TAKEN), ("Upper", MSG_SLUG_FORMAT), ("a", MSG_SLUG_FORMAT),
        ("-lead", MSG_SLUG_FORMAT), ("trail-", MSG_SLUG_FORMAT), ("under_score", MSG_SLUG_FORMAT),
        ("dot.ted", MSG_SLUG_FORMAT), ("double--hyphen", MSG_SLUG_FORMAT), ("9lives", MSG_SLUG_FORMAT),
        ("x" * 41, MSG_SLUG_FORMAT), ("tenant-base", MSG_SLUG_RESERVED),
    ],
)
def test_it_refuses_bad_subdomains(slug: str, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        _create(slug=slug)
    assert err.value.messages == [message]
    assert not Provider.objects.filter(slug=slug.lower()).exclude(schema_name__in=["alpha", "tenant_base"]).exists()


@pytest.mark.django_db
def test_it_refuses_a_duplicate_business_name() -> None:
    with pytest.raises(ValidationError) as err:
        _create(slug="alpha-two", name="alpha water")
    assert err.value.messages == [MSG_NAME_TAKEN]
    assert not schema_exists("alpha-two")
