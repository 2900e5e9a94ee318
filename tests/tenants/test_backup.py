"""backup_provider / restore_provider (tenants/backup.py): a provider that has lived (the demo's
months of readings, bills with their PDFs, payments, messages, field work, a logo) is backed up
into one sealed archive and restored under another slug and under its own; every table's rows and
every file's bytes come back, the restored provider works, the others are untouched, and a wrong
key, a changed byte, a cut-short archive or another migration state restore nothing at all.
Real PostgreSQL schemas, the real storage."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
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
from devkit.testing import PYTHON
from majismart.sealed import CHUNK, SealedError, SealedReader, SealedWriter, key_from_text
from majismart.storage import tenant_files
from tenants.backup import provider_backup, schema_tables
from tenants.models import Domain, Provider, ProviderEvent
from tenants.services import provider_create
from tests.billing_helpers import billed_twice, domestic_tariff, travel
from tests.conftest import host_of
from web import demo

PASSWORD = "correct-horse-42"
ROOT = Path(__file__).resolve().parents[2]
OTHER_KEY = "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktMzI="


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def rows_of(schema: str) -> dict[str, list[str]]:
    """Every table's rows (each as PostgreSQL's text of the row), sorted: the schema's content."""
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
        for name in tenant_files(default_storage):
            with default_storage.open(name, "rb") as handle:
                found[name] = hashlib.sha256(handle.read()).hexdigest()
        return found


def drop_files(provider: Provider) -> None:
    with tenant_context(provider):
        for name in list(tenant_files(default_storage)):
            default_storage.delete(name)


def public_row(provider: Provider) -> dict[str, object]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(p) FROM public.tenants_provider p WHERE id = %s", [provider.pk])
        row: dict[str, object] = cursor.fetchone()[0]
    return row


def assert_nothing_left(slug: str) -> None:
    assert not Provider.objects.filter(slug=slug).exists()
    assert not schema_exists(slug)
    assert not Domain.objects.filter(domain=host_of(slug)).exists()
    assert files_of(Provider(schema_name=slug, slug=slug)) == {}


@pytest.fixture
def lived(db) -> Iterator[Provider]:  # type: ignore[no-untyped-def]
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


@pytest.fixture
def small(db) -> Iterator[Provider]:  # type: ignore[no-untyped-def]
    """A provider with two billed months, their PDFs and a photo: quick to back up, for refusals."""
    slug = f"bs{uuid.uuid4().hex[:6]}"
    provider = provider_create(name=f"Small {slug}", slug=slug, owner_email=f"owner@{slug}.test",
                               owner_password=PASSWORD).provider
    with tenant_context(provider), travel("2026-11-23"):
        domestic_tariff()
        billed_twice()
        invoices_render(Invoice.objects.values_list("pk", flat=True))
        default_storage.save("readings/2026/11/photo.jpg", ContentFile(b"\xff\xd8" + bytes(range(256)) * 400))
    yield provider
    drop_files(provider)


def test_round_trip_as_a_new_slug_then_under_its_own(lived, alpha, beta, tmp_path) -> None:  # type: ignore[no-untyped-def]
    archive = tmp_path / "lived.majibak"
    others = {p.slug: (rows_of(p.schema_name), files_of(p)) for p in (alpha, beta)}
    rows, files = rows_of(lived.schema_name), files_of(lived)
    assert sum(1 for r in rows.values() if r) > 30  # clients, meters, readings, bills, payments, messages...
    assert any(n.startswith("invoices/") for n in files) and any(n.startswith("branding/") for n in files)

    out = _run("backup_provider", lived.slug, "-o", str(archive))
    assert out.startswith(f"{archive}: {len(rows)} tables, {sum(map(len, rows.values()))} rows, {len(files)} files")
    sealed = archive.read_bytes()
    with tenant_context(lived):  # nothing readable inside: not the name, not a client's, not a PDF's
        name = Client.objects.first().full_name
    assert lived.name.encode() not in sealed and name.encode() not in sealed and b"%PDF" not in sealed

    drill = f"drill-{lived.slug}"
    out = _run("restore_provider", str(archive), "--as", drill)
    assert out.endswith(f"as {drill}: {sum(map(len, rows.values()))} rows, {len(files)} files, {host_of(drill)}")
    restored = Provider.objects.get(slug=drill)
    try:
        assert rows_of(restored.schema_name) == rows
        assert files_of(restored) == files
        # Its public rows: the provider's settings as they were, its own address and callback token.
        before, after = public_row(lived), public_row(restored)
        differ = {"id", "schema_name", "slug", "name", "callback_token"}
        assert {k: v for k, v in after.items() if k not in differ} == {k: v for k, v in before.items() if k not in differ}
        assert restored.name == f"{lived.name} ({drill})" and restored.callback_token != lived.callback_token
        assert restored.contact_phone == "+254722000111" and restored.logo.name == lived.logo.name
        assert list(Domain.objects.filter(tenant=restored).values_list("domain", "is_primary")) == [(host_of(drill), True)]
        actions = list(ProviderEvent.objects.filter(provider=restored).order_by("id").values_list("action", flat=True))
        assert actions == [*ProviderEvent.objects.filter(provider=lived).order_by("id").values_list("action", flat=True),
                           "restored"]
        # It works: its owner logs in and opens a bill; its sequences go on past the restored ids.
        http = Http(HTTP_HOST=host_of(drill))
        assert http.post("/accounts/login/", {"username": f"owner@{lived.slug}.test", "password": PASSWORD}).status_code == 302
        with tenant_context(restored):
            invoice = Invoice.objects.order_by("pk").last()
            top = Client.objects.order_by("pk").last().pk
            added = Client.objects.create(account_number="NEW-1", full_name="After Restore",
                                          category=Category.objects.first())
            assert added.pk == top + 1
        page = http.get(f"/dashboard/billing/invoices/{invoice.pk}/pdf/")
        assert page.status_code == 200 and page.content.startswith(b"%PDF")
        # The original and the other providers are untouched.
        assert rows_of(lived.schema_name) == rows and files_of(lived) == files
        assert {p.slug: (rows_of(p.schema_name), files_of(p)) for p in (alpha, beta)} == others
    finally:
        drop_files(restored)

    # Under its own slug, on a platform where it is gone: the same rows, files, token and address.
    token = lived.callback_token
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    drop_files(lived)
    lived.delete(force_drop=True)
    assert_nothing_left(lived.slug)
    _run("restore_provider", str(archive))
    again = Provider.objects.get(slug=lived.slug)
    assert rows_of(again.schema_name) == rows and files_of(again) == files
    assert again.callback_token == token and again.name == lived.name and again.domain == host_of(lived.slug)


def test_backup_refuses_an_unknown_slug_and_an_existing_file(small, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="No provider with slug 'nowhere'"):
        _run("backup_provider", "nowhere", "-o", str(tmp_path / "x"))
    (tmp_path / "taken").write_bytes(b"mine")
    with pytest.raises(CommandError, match="already exists"):
        _run("backup_provider", small.slug, "-o", str(tmp_path / "taken"))
    assert (tmp_path / "taken").read_bytes() == b"mine"


def _archive(small: Provider, tmp_path: Path) -> Path:
    archive = tmp_path / "small.majibak"
    _run("backup_provider", small.slug, "-o", str(archive))
    assert archive.stat().st_size > 3 * CHUNK  # several sealed chunks
    return archive


def test_a_wrong_key_restores_nothing(small, tmp_path, settings) -> None:  # type: ignore[no-untyped-def]
    archive = _archive(small, tmp_path)
    settings.BACKUP_ENCRYPTION_KEY = OTHER_KEY
    with pytest.raises(CommandError, match="different BACKUP_ENCRYPTION_KEY"):
        _run("restore_provider", str(archive), "--as", "drill-wrong-key")
    assert_nothing_left("drill-wrong-key")


def test_a_changed_byte_or_a_cut_short_archive_restores_nothing(small, tmp_path) -> None:  # type: ignore[no-untyped-def]
    archive = _archive(small, tmp_path)
    data = archive.read_bytes()
    header, chunks = _chunks(data)
    for at in (60, len(data) // 2, len(data) - 1):  # the first chunk, the middle, the last chunk's tag
        changed = bytearray(data)
        changed[at] ^= 0x01
        archive.write_bytes(bytes(changed))
        with pytest.raises(CommandError, match="damaged or was changed"):
            _run("restore_provider", str(archive), "--as", "drill-changed")
        assert_nothing_left("drill-changed")
    # Cut anywhere, or at a chunk boundary (the rows loaded by then are rolled back): refused.
    for cut in (data[:len(data) // 2], data[:-1], header + b"".join(chunks[:-1])):
        archive.write_bytes(cut)
        with pytest.raises(CommandError, match="truncated"):
            _run("restore_provider", str(archive), "--as", "drill-cut")
        assert_nothing_left("drill-cut")


def test_another_migration_state_is_refused(small, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with connection.cursor() as cursor:  # as if made by a release one migration behind
        cursor.execute(sql.SQL("DELETE FROM {}.django_migrations WHERE app = 'billing' AND name = "
                               "(SELECT max(name) FROM {}.django_migrations WHERE app = 'billing')").format(
            sql.Identifier(small.schema_name), sql.Identifier(small.schema_name)))
    archive = tmp_path / "behind.majibak"
    with open(archive, "wb") as out:
        provider_backup(small, out)
    with pytest.raises(CommandError, match="migration state differs from this code's: the archive lacks billing"):
        _run("restore_provider", str(archive), "--as", "drill-behind")
    assert_nothing_left("drill-behind")


def test_restore_refuses_a_taken_slug_and_files_in_the_way(small, tmp_path) -> None:  # type: ignore[no-untyped-def]
    archive = _archive(small, tmp_path)
    with pytest.raises(CommandError, match="already taken"):
        _run("restore_provider", str(archive))
    squatter = Provider(schema_name="drill-squat", slug="drill-squat")
    with tenant_context(squatter):
        default_storage.save("readings/2026/11/photo.jpg", ContentFile(b"someone else's"))
    try:
        with pytest.raises(CommandError, match="Storage already holds 1 file"):
            _run("restore_provider", str(archive), "--as", "drill-squat")
        assert not Provider.objects.filter(slug="drill-squat").exists() and not schema_exists("drill-squat")
        assert files_of(squatter) == {"readings/2026/11/photo.jpg": hashlib.sha256(b"someone else's").hexdigest()}
    finally:
        drop_files(squatter)


def test_no_key_outside_debug_is_refused(small, tmp_path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.BACKUP_ENCRYPTION_KEY, settings.DEBUG, settings.TESTING = "", False, False
    with pytest.raises(CommandError, match="BACKUP_ENCRYPTION_KEY is not set"):
        _run("backup_provider", small.slug, "-o", str(tmp_path / "x"))
    assert not (tmp_path / "x").exists() and not list(tmp_path.iterdir())
    settings.BACKUP_ENCRYPTION_KEY = "too short"
    with pytest.raises(CommandError, match="32 random bytes"):
        _run("backup_provider", small.slug, "-o", str(tmp_path / "x"))


# --- the sealed stream itself: chunks moved, dropped or repeated ---------------------------------
def _sealed(data: bytes, key: bytes) -> bytes:
    out = io.BytesIO()
    writer = SealedWriter(out, key)
    writer.write(data)
    writer.close()
    return out.getvalue()


def _chunks(blob: bytes) -> tuple[bytes, list[bytes]]:
    header, rest, chunks = blob[:42], blob[42:], []
    while rest:
        size = 5 + int.from_bytes(rest[1:5], "big")
        chunks.append(rest[:size])
        rest = rest[size:]
    return header, chunks


def _read_all(blob: bytes, key: bytes) -> bytes:
    reader = SealedReader(io.BytesIO(blob), key)
    parts = []
    while part := reader.read(10_000):
        parts.append(part)
    return b"".join(parts)


def test_sealed_chunks_cannot_be_moved_dropped_or_repeated() -> None:
    key = key_from_text(OTHER_KEY)
    data = bytes(range(256)) * (4 * CHUNK // 256) + b"tail"  # four full chunks and a last one
    blob = _sealed(data, key)
    assert _read_all(blob, key) == data
    header, chunks = _chunks(blob)
    assert len(chunks) == 4 + 1
    for changed in ([chunks[1], chunks[0], *chunks[2:]], [chunks[0], *chunks[2:]],
                    [chunks[0], chunks[0], *chunks[1:]], [*chunks, chunks[-1]]):
        with pytest.raises(SealedError, match="changed"):
            _read_all(header + b"".join(changed), key)
    with pytest.raises(SealedError, match="truncated"):
        _read_all(header + b"".join(chunks[:-1]), key)
    # A last chunk passed off as a middle one (its flag changed) fails its check too.
    flipped = bytes([0]) + chunks[-1][1:]
    with pytest.raises(SealedError, match="changed"):
        _read_all(header + b"".join(chunks[:-1]) + flipped, key)
    # Another archive's header (another salt) opens none of these chunks.
    with pytest.raises(SealedError, match="changed"):
        _read_all(_sealed(b"x", key)[:42] + b"".join(chunks), key)


def _production(**env: str) -> subprocess.CompletedProcess:
    """tenants.backup.master_key() in a production (DEBUG off) process."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BACKUP_ENCRYPTION_KEY", "MAJISMART_TESTING"))}
    clean.update(DJANGO_SETTINGS_MODULE="majismart.settings.base", DEBUG="false", SECRET_KEY="k" * 50,
                 DATABASE_URL="postgres://x@127.0.0.1:1/x", FIELD_ENCRYPTION_KEYS=OTHER_KEY, BLIND_INDEX_KEY="i" * 40,
                 EMAIL_URL="smtp://mail.example.co.ke:25", **env)
    return subprocess.run([PYTHON, "-c", "import django; django.setup(); from tenants.backup import master_key; "
                           "print(master_key().hex())"], env=clean, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_production_takes_the_key_from_a_file_and_refuses_to_run_without_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    key_file = tmp_path / "backup-key"
    key_file.write_text(OTHER_KEY + "\n")
    from_file = _production(BACKUP_ENCRYPTION_KEY_FILE=str(key_file))
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout.strip() == key_from_text(OTHER_KEY).hex()
    missing = _production()
    assert missing.returncode != 0 and "BACKUP_ENCRYPTION_KEY is not set (required when DEBUG is off)" in missing.stderr
