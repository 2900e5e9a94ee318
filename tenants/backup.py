"""Backup and restore of one provider: its schema's rows, its public rows (the Provider row, its
domains and events) and its files, in one sealed archive (majismart.sealed).

Inside the sealed stream, records follow one another: a tag byte, a name, then the body as
length-prefixed pieces ending with an empty one. "H" head.json (format, slug, schema, migration
state, tables in load order with their columns, sequences), "P" public.json, one "T" per table
(its rows as PostgreSQL binary COPY), one "F" per file (its bytes, read through the storage API,
so the file system and S3 are alike), "M" manifest.json (everything in the head plus each table's
row count and sha256 and each file's size and sha256), "Z" the end.

Rows are copied as stored: personal data stays encrypted by FIELD_ENCRYPTION_KEYS inside them, so
a restore needs the same FIELD_ENCRYPTION_KEYS and BLIND_INDEX_KEY as the backup's platform.
The dump reads one snapshot (REPEATABLE READ); the restore is one transaction, whose files are
put in storage only after every table and file has checked out against the manifest, and taken
out again if anything fails after that.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any, BinaryIO

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, models, transaction
from django_tenants.utils import tenant_context
from psycopg import sql

from majismart.sealed import CHUNK, SealedError, SealedReader, SealedWriter, key_from_text
from majismart.storage import tenant_files
from tenants.models import Domain, Provider, ProviderEvent, new_callback_token
from tenants.selectors import provider_domain_name
from tenants.services import _CREATE_LOCK_ID, template_schema_ensure, validate_subdomain

FORMAT = 1
# What every schema has but is not the provider's data: the migration state is compared instead.
SKIPPED_TABLES = {"django_migrations"}
# The deterministic key of development and tests: backups made with it are only as safe as a laptop.
DEV_KEY = "bWFqaXNtYXJ0LWRldmVsb3BtZW50LWJhY2t1cC1rZXk="
_LEN = struct.Struct(">I")
_NAME = struct.Struct(">H")


class BackupError(Exception):
    """A backup or restore that cannot go ahead, with the reason in words an operator acts on."""


def master_key() -> bytes:
    """BACKUP_ENCRYPTION_KEY (or the file BACKUP_ENCRYPTION_KEY_FILE names); a development key
    only with DEBUG on or under test."""
    text = settings.BACKUP_ENCRYPTION_KEY
    if not text:
        if not (settings.DEBUG or settings.TESTING):
            raise BackupError("BACKUP_ENCRYPTION_KEY is not set (required when DEBUG is off). Keep it apart from the "
                              "backups: without it no archive can be opened.")
        text = DEV_KEY
    try:
        return key_from_text(text)
    except SealedError as exc:
        raise BackupError(f"BACKUP_ENCRYPTION_KEY: {exc}") from exc


# --- the schema, as the catalogue describes it -----------------------------------------------------
@dataclass
class Table:
    name: str
    columns: list[str]

    def qualified(self, schema: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(self.name))

    def column_list(self) -> sql.Composed:
        return sql.SQL(", ").join(sql.Identifier(c) for c in self.columns)


def _rows(query: str | sql.Composable, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return list(cursor.fetchall())


def _columns(schema: str, table: str) -> list[str]:
    """Stored columns in their order (generated ones are computed, never copied)."""
    return [row[0] for row in _rows(
        "SELECT attname FROM pg_attribute WHERE attrelid = format('%%I.%%I', %s::text, %s::text)::regclass "
        "AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum", [schema, table])]


def schema_tables(schema: str) -> list[Table]:
    """The schema's tables, referenced ones before those that refer to them (by name where a
    cycle leaves no order: Django's foreign keys are deferred to the commit anyway)."""
    columns = {name: list(cols) for name, cols in _rows(
        "SELECT c.relname, ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 "
        "AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname", [schema])
        if name not in SKIPPED_TABLES}
    names = list(columns)
    graph: dict[str, set[str]] = {name: set() for name in names}
    for child, parent in _rows(
            "SELECT c1.relname, c2.relname FROM pg_constraint con JOIN pg_class c1 ON c1.oid = con.conrelid "
            "JOIN pg_class c2 ON c2.oid = con.confrelid JOIN pg_namespace n ON n.oid = c1.relnamespace "
            "WHERE con.contype = 'f' AND n.nspname = %s AND c2.relnamespace = n.oid", [schema]):
        if child in graph and parent in graph and child != parent:
            graph[child].add(parent)
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError:
        order = names
    return [Table(name, columns[name]) for name in order]


def migration_state(schema: str) -> list[str]:
    return [f"{app}.{name}" for app, name in _rows(
        sql.SQL("SELECT app, name FROM {}.django_migrations ORDER BY app, name").format(sql.Identifier(schema)))]


def _sequences(schema: str) -> list[tuple[str, str | None, str | None]]:
    """(sequence, owning table, owning column) of every sequence in the schema."""
    return [(row[0], row[1], row[2]) for row in _rows(
        "SELECT s.relname, t.relname, a.attname FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace "
        "LEFT JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
        "LEFT JOIN pg_class t ON t.oid = d.refobjid "
        "LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
        "WHERE s.relkind = 'S' AND n.nspname = %s ORDER BY s.relname", [schema])]


def file_fields() -> list[tuple[str, str]]:
    """(table, column) of every FileField in the providers' schemas."""
    found = []
    for model in apps.get_models():
        if model._meta.app_label in settings.SHARED_APPS and model._meta.app_label not in settings.TENANT_APPS:
            continue
        for f in model._meta.concrete_fields:
            if isinstance(f, models.FileField):
                found.append((model._meta.db_table, f.column))
    return found


# --- the record framing inside the sealed stream ---------------------------------------------------
class _RecordWriter:
    def __init__(self, sealed: SealedWriter) -> None:
        self.sealed = sealed

    def begin(self, tag: str, name: str) -> None:
        raw = name.encode("utf-8")
        self.sealed.write(tag.encode("ascii") + _NAME.pack(len(raw)) + raw)

    def piece(self, data: bytes) -> None:
        if data:
            self.sealed.write(_LEN.pack(len(data)))
            self.sealed.write(data)

    def end(self) -> None:
        self.sealed.write(_LEN.pack(0))

    def whole(self, tag: str, name: str, data: bytes) -> None:
        self.begin(tag, name)
        for start in range(0, len(data), CHUNK):
            self.piece(data[start:start + CHUNK])
        self.end()


class _RecordReader:
    def __init__(self, sealed: SealedReader) -> None:
        self.sealed = sealed

    def next(self) -> tuple[str, str]:
        tag = self.sealed.read_exactly(1).decode("ascii", "replace")
        (size,) = _NAME.unpack(self.sealed.read_exactly(_NAME.size))
        return tag, self.sealed.read_exactly(size).decode("utf-8")

    def pieces(self) -> Iterator[bytes]:
        while True:
            (size,) = _LEN.unpack(self.sealed.read_exactly(_LEN.size))
            if size == 0:
                return
            yield self.sealed.read_exactly(size)

    def whole_json(self) -> Any:
        return json.loads(b"".join(self.pieces()))


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, default=str).encode()


# --- backup ----------------------------------------------------------------------------------------
def provider_backup(provider: Provider, out: BinaryIO) -> dict[str, Any]:
    """Write `provider`'s archive to `out`; returns its manifest."""
    master = master_key()
    schema = provider.schema_name
    outer = connection.in_atomic_block
    with transaction.atomic():
        if not outer:  # one snapshot for every table (a caller's transaction decides its own)
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        tables = schema_tables(schema)
        sequences = _sequences(schema)
        head = {
            "format": FORMAT, "slug": provider.slug, "schema": schema, "created_at": datetime.now(UTC).isoformat(),
            "migrations": migration_state(schema), "base_domain": settings.BASE_DOMAIN,
            "tables": [{"name": t.name, "columns": t.columns} for t in tables],
            "sequences": {name: _rows(sql.SQL("SELECT last_value, is_called FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(name)))[0] for name, table, _ in sequences if table is None},
        }
        public = {
            "provider": _rows("SELECT row_to_json(p) FROM public.tenants_provider p WHERE id = %s", [provider.pk])[0][0],
            "domains": [row[0] for row in _rows(
                "SELECT row_to_json(d) FROM public.tenants_domain d WHERE tenant_id = %s ORDER BY id", [provider.pk])],
            "events": [row[0] for row in _rows(
                "SELECT row_to_json(e) FROM public.tenants_providerevent e WHERE provider_id = %s ORDER BY id",
                [provider.pk])],
        }
        sealed = SealedWriter(out, master)
        records = _RecordWriter(sealed)
        records.whole("H", "head.json", _json(head))
        records.whole("P", "public.json", _json(public))
        table_sums: dict[str, dict[str, Any]] = {}
        with connection.cursor() as cursor:
            for table in tables:
                digest = hashlib.sha256()
                records.begin("T", table.name)
                query = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT binary)").format(
                    table.column_list(), table.qualified(schema))
                with cursor.copy(query) as copy:
                    for data in copy:
                        digest.update(data)
                        records.piece(bytes(data))
                records.end()
                table_sums[table.name] = {"rows": cursor.rowcount, "sha256": digest.hexdigest()}
        files = []
        with tenant_context(provider):
            for name in tenant_files(default_storage):
                digest, size = hashlib.sha256(), 0
                records.begin("F", name)
                with default_storage.open(name, "rb") as handle:
                    while data := handle.read(CHUNK):
                        digest.update(data)
                        size += len(data)
                        records.piece(data)
                records.end()
                files.append({"name": name, "size": size, "sha256": digest.hexdigest()})
        manifest = {**head, "public_sha256": hashlib.sha256(_json(public)).hexdigest(),
                    "table_data": table_sums, "files": files}
        records.whole("M", "manifest.json", _json(manifest))
        records.whole("Z", "end", b"")
        sealed.close()
    return manifest


# --- restore ---------------------------------------------------------------------------------------
@dataclass
class Restored:
    provider: Provider
    manifest: dict[str, Any]
    files: list[str] = field(default_factory=list)


def _fail(message: str) -> BackupError:
    return BackupError(f"{message} Nothing was restored.")


def _create_provider(head: dict[str, Any], public: dict[str, Any], slug: str) -> Provider:
    """The new provider made the normal way (schema cloned from the template), then its public
    rows as the archive has them: the Provider's settings, its events and, under its own slug,
    its other domains. A new slug gets its own address, callback token and, if taken, name."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CREATE_LOCK_ID])
    try:
        validate_subdomain(slug)
    except ValidationError as exc:
        raise _fail(f"Cannot restore as {slug!r}: {'; '.join(exc.messages)}") from exc
    row = public["provider"]
    same = slug == head["slug"]
    name = row["name"]
    if not same and Provider.objects.filter(name__iexact=name).exists():
        name = f"{name} ({slug})"
    if settings.TENANT_CREATION_FAKES_MIGRATIONS:
        template_schema_ensure()
    provider = Provider(schema_name=slug, slug=slug, name=name)
    provider.save(verbosity=0)
    Domain.objects.create(domain=provider_domain_name(slug), tenant=provider, is_primary=True)
    kept = [c for c in _columns("public", "tenants_provider") if c not in ("id", "schema_name", "slug", "name")]
    if not same or Provider.objects.filter(callback_token=row["callback_token"]).exists():
        kept.remove("callback_token")
        row = {**row, "callback_token": new_callback_token()}
        kept.append("callback_token")
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("UPDATE public.tenants_provider SET ({cols}) = (SELECT {cols} FROM "
                               "json_populate_record(NULL::public.tenants_provider, %s::json)) WHERE id = %s").format(
            cols=sql.SQL(", ").join(sql.Identifier(c) for c in kept)), [json.dumps(row), provider.pk])
        event_cols = [c for c in _columns("public", "tenants_providerevent") if c not in ("id", "provider_id")]
        for event in public["events"]:
            cursor.execute(sql.SQL("INSERT INTO public.tenants_providerevent (provider_id, {cols}) SELECT %s, {cols} "
                                   "FROM json_populate_record(NULL::public.tenants_providerevent, %s::json)").format(
                cols=sql.SQL(", ").join(sql.Identifier(c) for c in event_cols)), [provider.pk, json.dumps(event)])
    if same:
        for domain in public["domains"]:
            if not Domain.objects.filter(domain=domain["domain"]).exists():
                Domain.objects.create(domain=domain["domain"], tenant=provider, is_primary=False)
    provider.refresh_from_db()
    ProviderEvent.objects.create(provider=provider, action="restored", actor="restore_provider",
                                 extra_data={"from_slug": head["slug"], "archive_created_at": head["created_at"]})
    return provider


def _check_migrations(head: dict[str, Any], schema: str) -> None:
    archived, here = set(head["migrations"]), set(migration_state(schema))
    if archived != here:
        missing, extra = sorted(here - archived), sorted(archived - here)
        raise _fail("The archive's migration state differs from this code's: "
                    + (f"the archive lacks {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}" if missing else "")
                    + ("; " if missing and extra else "")
                    + (f"the archive has {', '.join(extra[:5])}{' …' if len(extra) > 5 else ''}" if extra else "")
                    + ". Restore it with the release that made it (or migrate that platform first).")


def _load_table(records: _RecordReader, schema: str, table: Table) -> dict[str, Any]:
    digest = hashlib.sha256()
    query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(table.qualified(schema), table.column_list())
    with connection.cursor() as cursor:
        with cursor.copy(query) as copy:
            for data in records.pieces():
                digest.update(data)
                copy.write(data)
        return {"rows": cursor.rowcount, "sha256": digest.hexdigest()}


def _stage_file(records: _RecordReader, staging: Path, index: int) -> dict[str, Any]:
    digest, size = hashlib.sha256(), 0
    with open(staging / str(index), "wb") as handle:
        for data in records.pieces():
            digest.update(data)
            size += len(data)
            handle.write(data)
    return {"size": size, "sha256": digest.hexdigest()}


def _reset_sequences(schema: str, values: dict[str, list[Any]]) -> None:
    """Every sequence past the restored rows' largest id (an unowned one where it stood)."""
    with connection.cursor() as cursor:
        for name, table, column in _sequences(schema):
            seq = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
            if table is not None and column is not None:
                cursor.execute(sql.SQL("SELECT setval(%s, COALESCE(MAX({col}), 0) + 1, false) FROM {tbl}").format(
                    col=sql.Identifier(column), tbl=sql.SQL("{}.{}").format(sql.Identifier(schema),
                                                                             sql.Identifier(table))),
                    [seq.as_string(cursor.connection)])
            elif name in values:
                cursor.execute("SELECT setval(%s, %s, %s)", [seq.as_string(cursor.connection), *values[name]])


def _rewrite_file_names(old: str, new: str, schema: str) -> None:
    """FileField values that carry the schema's name (a storage that keeps it in the name) follow
    the new schema; names relative to the provider's own storage (the default) are left alone."""
    if old == new:
        return
    present = {t for t, in _rows("SELECT tablename FROM pg_tables WHERE schemaname = %s", [schema])}
    with connection.cursor() as cursor:
        for table, column in file_fields():
            if table in present:
                cursor.execute(sql.SQL("UPDATE {}.{} SET {col} = %s || substr({col}, %s) WHERE {col} LIKE %s").format(
                    sql.Identifier(schema), sql.Identifier(table), col=sql.Identifier(column)),
                    [f"{new}/", len(old) + 2, f"{old}/%"])
        cursor.execute("UPDATE public.tenants_provider SET logo = %s || substr(logo, %s) "
                       "WHERE schema_name = %s AND logo LIKE %s", [f"{new}/", len(old) + 2, schema, f"{old}/%"])


def provider_restore(source: BinaryIO, *, as_slug: str | None = None) -> Restored:
    """Restore an archive as a new provider (under its own slug, or `as_slug`). All or nothing."""
    master = master_key()
    try:
        records = _RecordReader(SealedReader(source, master))
        tag, _ = records.next()
        if tag != "H":
            raise _fail("The archive does not start with its head.")
        head = records.whole_json()
        if head.get("format") != FORMAT:
            raise _fail(f"The archive's format {head.get('format')!r} is not one this version reads ({FORMAT}).")
        tag, _ = records.next()
        if tag != "P":
            raise _fail("The archive lacks the provider's public rows.")
        public_raw = b"".join(records.pieces())
        public = json.loads(public_raw)
    except SealedError as exc:
        raise BackupError(str(exc)) from exc
    slug = as_slug or head["slug"]
    written: list[str] = []
    staging = Path(tempfile.mkdtemp(prefix="majismart-restore-"))
    try:
        with transaction.atomic():
            provider = _create_provider(head, public, slug)
            schema = provider.schema_name
            _check_migrations(head, schema)
            tables = {t["name"]: Table(t["name"], t["columns"]) for t in head["tables"]}
            here = {t.name: t.columns for t in schema_tables(schema)}
            if set(here) != set(tables) or any(here[n] != t.columns for n, t in tables.items()):
                raise _fail("The archive's tables or columns differ from this code's schema.")
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
                for table in tables.values():  # the clone's seeded rows make way; no trigger sees the load
                    cursor.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(table.qualified(schema)))
                    cursor.execute(sql.SQL("DELETE FROM {}").format(table.qualified(schema)))
            loaded: dict[str, dict[str, Any]] = {}
            staged: dict[str, dict[str, Any]] = {}
            manifest: dict[str, Any] | None = None
            while True:
                tag, name = records.next()
                if tag == "T":
                    if name not in tables or name in loaded:
                        raise _fail(f"The archive holds an unexpected table {name!r}.")
                    loaded[name] = _load_table(records, schema, tables[name])
                elif tag == "F":
                    if name in staged or name.startswith("/") or ".." in name.split("/"):
                        raise _fail(f"The archive holds a file with an unsafe or repeated name {name!r}.")
                    staged[name] = {**_stage_file(records, staging, len(staged)), "index": len(staged)}
                elif tag == "M":
                    manifest = records.whole_json()
                elif tag == "Z":
                    list(records.pieces())
                    if not records.sealed.at_end():
                        raise _fail("The archive has data after its end.")
                    break
                else:
                    raise _fail(f"The archive holds an unknown record {tag!r}.")
            _verify(manifest, head, public_raw, loaded, staged)
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # every foreign key checked, here
                for table in tables.values():
                    cursor.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(table.qualified(schema)))
            _reset_sequences(schema, head.get("sequences", {}))
            _rewrite_file_names(head["schema"], schema, schema)
            with tenant_context(provider):
                clash = [name for name in staged if default_storage.exists(name)]
                if clash:
                    raise _fail(f"Storage already holds {len(clash)} file(s) of schema {schema!r} (e.g. {clash[0]!r}): "
                                "move them away first.")
                for name, info in staged.items():
                    with open(staging / str(info["index"]), "rb") as handle:
                        stored = default_storage.save(name, File(handle))
                    written.append(stored)
                    if stored != name:
                        raise _fail(f"Storage kept {name!r} as {stored!r}.")
    except SealedError as exc:
        _remove(provider_slug=slug, names=written)
        raise BackupError(str(exc)) from exc
    except BaseException:
        _remove(provider_slug=slug, names=written)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    assert manifest is not None
    return Restored(provider=Provider.objects.get(slug=slug), manifest=manifest, files=written)


def _verify(manifest: dict[str, Any] | None, head: dict[str, Any], public_raw: bytes,
            loaded: dict[str, dict[str, Any]], staged: dict[str, dict[str, Any]]) -> None:
    if manifest is None:
        raise _fail("The archive has no manifest.")
    if any(manifest.get(k) != head[k] for k in ("slug", "schema", "migrations", "tables", "created_at")):
        raise _fail("The archive's manifest disagrees with its head.")
    if manifest.get("public_sha256") != hashlib.sha256(public_raw).hexdigest():
        raise _fail("The provider's public rows do not match the manifest.")
    expected = manifest.get("table_data", {})
    if set(expected) != set(loaded):
        raise _fail(f"The archive's tables ({len(loaded)}) do not match its manifest ({len(expected)}).")
    for name, got in loaded.items():
        if got != expected[name]:
            raise _fail(f"Table {name}: {got['rows']} rows read, the manifest says {expected[name]['rows']} "
                        "(or their checksum differs).")
    files = {f["name"]: f for f in manifest.get("files", [])}
    if set(files) != set(staged):
        raise _fail("The archive's files do not match its manifest.")
    for name, got in staged.items():
        if (got["size"], got["sha256"]) != (files[name]["size"], files[name]["sha256"]):
            raise _fail(f"File {name}: its bytes do not match the manifest.")


def _remove(*, provider_slug: str, names: list[str]) -> None:
    """Take out the files a failed restore had put in storage (the rows went with the rollback)."""
    if not names:
        return
    provider = Provider(schema_name=provider_slug, slug=provider_slug)
    with tenant_context(provider):
        for name in names:
            default_storage.delete(name)
