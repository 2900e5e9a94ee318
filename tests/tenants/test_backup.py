"""backup_provider / restore_provider (tenants/backup.py): a provider that has lived (the demo's
months of readings, bills with their PDFs, payments, messages, field work, a logo) is backed up
into one sealed archive and restored under another slug and under its own; every table's rows and
every file's bytes come back, the restored provider works, and a wrong key, a changed byte or a
cut-short archive restore nothing at all. Real PostgreSQL schemas, the real storage."""

from __future__ import annotations

import hashlib
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client as Http
from django_tenants.utils import schema_exists, tenant_context
from psycopg import sql

from billing.documents import invoices_render
from billing.models import Invoice
from clients.models import Category, Client
from tenants.backup import schema_tables, storage_files
from tenants.models import Domain, Provider, ProviderEvent
from tenants.services import provider_create
from tests.conftest import host_of
from web import demo

PASSWORD = "correct-horse-42"
KEY_B = "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktMzI="


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def rows_of(schema: str) -> dict[str, list[str]]:
    """Every table's rows (each as PostgreSQL's text of the row), sorted: the whole content."""
    found = {}
    with connection.cursor() as cursor:
        for table in schema_tables(schema):
            cursor.execute(sql.SQL("SELECT t::text FROM {}.{} t").format(sql.Identifier(schema),
                                                                       sql.Identifier(table.name)))
            found[table.name] = sorted(row[0] for row in cursor.fetchall())
    return found


def files_of(provider: Provider) -> dict[str, str]:
    with tenant_context(provider):
        found = {}
        for name in storage_files():
            with default_storage.open(name, "rb") as handle:
                found[name] = hashlib.sha256(handle.read()).hexdigest()
        return found


def drop_files(provider: Provider) -> None:
    with tenant_context(provider):
        for name in list(storage_files()):
            default_storage.delete(name)


@pytest.fixture
def lived(db):  # type: ignore[no-untyped-def]
    """A provider of its own that has lived the demo's year (4 clients), with its bills' PDFs."""
    slug = f"bk{uuid.uuid4().hex[:6]}"
    provider = provider_create(name=f"Backup {slug}", slug=slug, owner_email=f"owner@{slug}.test",
                               owner_password=PASSWORD, owner_phone="+254722000111").provider
    with tenant_context(provider):
        demo.brand(provider, demo.DEMO_PROVIDERS[0])
        demo.seed_provider(slug, clients=4)
        invoices_render(Invoice.objects.values_list("pk", flat=True))
    provider.refresh_from_db()
    yield provider
    drop_files(provider)


def test_smoke(lived, tmp_path) -> None:  # type: ignore[no-untyped-def]
    archive = tmp_path / "a.majibak"
    print(_run("backup_provider", lived.slug, "-o", str(archive)))
    before = rows_of(lived.schema_name)
    print({k: len(v) for k, v in before.items() if v})
    print(len(files_of(lived)))
    print(_run("restore_provider", str(archive), "--as", "drill-" + lived.slug))
    new = Provider.objects.get(slug="drill-" + lived.slug)
    assert rows_of(new.schema_name) == before
    assert files_of(new) == files_of(lived)
    drop_files(new)
