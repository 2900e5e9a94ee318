"""Online re-encryption of every EncryptedTextField under the newest key (`manage.py
rotate_encryption_keys`).

Put a new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), deploy, run the
command, then remove the old keys. Nothing stops meanwhile:

- readers keep working throughout: MultiFernet decrypts with any configured key, so a value is
  readable before, during and after its re-encryption;
- each table is walked by primary key in batches (~500 rows), each batch its own short
  transaction; a value is written back only if it is still the token that was read
  (`UPDATE … WHERE pk = v.pk AND col = v.old`), so an edit made meanwhile (already under the
  newest key, since every writer encrypts with the first key) is never overwritten;
- a batch waits at most LOCK_TIMEOUT for a row someone else holds, then is retried (and a
  deadlock victim likewise), so rotation never queues application writes behind it for long;
- values already under the newest key are skipped: a Fernet token names no key, so "current"
  means the first key alone decrypts it (`crypto.is_current`). Rotation is therefore resumable
  (stop it any time, run it again) and idempotent (a second run changes nothing).

Blind indexes (`*_index`, name word tokens) are keyed by BLIND_INDEX_KEY, not by the Fernet
keys, so rotation leaves them untouched and search keeps working throughout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from majismart import crypto
from majismart.sql import quote_ident as _q

BATCH = 500
LOCK_TIMEOUT = "2s"
RETRIES = 5


@dataclass(frozen=True)
class Target:
    """A table with encrypted columns."""

    table: str
    pk: str
    pk_type: str
    columns: tuple[str, ...]


@dataclass
class Change:
    pk: Any
    column: str
    old: str
    new: str


@dataclass
class Batch:
    """What one batch read: the changes to write and what it found."""

    last_pk: Any = None
    rows: int = 0
    changes: list[Change] = field(default_factory=list)
    current: int = 0
    clear: int = 0
    unreadable: int = 0


@dataclass
class TableCount:
    schema: str
    table: str
    rows: int = 0  # rows read
    rotated: int = 0  # values re-encrypted under the newest key (or, dry run, that would be)
    current: int = 0  # values already under the newest key
    clear: int = 0  # values found in clear and encrypted (a missed migration)
    changed_meanwhile: int = 0  # values edited between read and write: left as the edit made them
    unreadable: int = 0  # tokens no configured key opens: left alone

    @property
    def changed(self) -> int:
        return self.rotated + self.clear

    def line(self, dry_run: bool = False) -> str:
        verb = "would re-encrypt" if dry_run else "re-encrypted"
        parts = [f"{self.schema}.{self.table}: {self.rows} rows, {verb} {self.rotated} values",
                 f"{self.current} already current"]
        if self.clear:
            parts.append(f"{self.clear} found in clear{' (would be encrypted)' if dry_run else ', encrypted'}")
        if self.changed_meanwhile:
            parts.append(f"{self.changed_meanwhile} changed meanwhile (kept)")
        if self.unreadable:
            parts.append(f"{self.unreadable} unreadable with the configured keys (left alone)")
        return ", ".join(parts)


def targets() -> list[Target]:
    """Every table with an EncryptedTextField, in any app (shared or per provider)."""
    found: dict[str, Target] = {}
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed:
            continue
        columns = tuple(f.column for f in meta.concrete_fields if isinstance(f, crypto.EncryptedTextField))
        if columns and meta.db_table not in found:
            found[meta.db_table] = Target(meta.db_table, meta.pk.column,
                                           cast(str, meta.pk.db_type(connection)),  # a key column has a type
                                           columns)
    return sorted(found.values(), key=lambda t: t.table)


def schemas() -> list[str]:
    """The public schema, then every provider's (the clone template included), that exist."""
    from django_tenants.utils import get_public_schema_name, get_tenant_model

    public = get_public_schema_name()
    names = [public, *sorted(set(get_tenant_model().objects.exclude(schema_name=public)
                                 .values_list("schema_name", flat=True)))]
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", [names])
        existing = {row[0] for row in cursor.fetchall()}
    return [n for n in names if n in existing]


def table_exists(schema: str, table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"{_q(schema)}.{_q(table)}"])
        return cursor.fetchone()[0] is not None


def read_batch(schema: str, target: Target, *, after: Any = None, size: int = BATCH) -> Batch:
    """The next `size` rows after primary key `after`, and for each value not under the newest
    key its re-encrypted token. Reads only (no lock): `write_batch` compares before it writes."""
    where = "" if after is None else f"WHERE {_q(target.pk)} > %s "
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_q(target.pk)}, {', '.join(_q(c) for c in target.columns)} "  # noqa: S608 - names from the models
            f"FROM {_q(schema)}.{_q(target.table)} {where}ORDER BY {_q(target.pk)} LIMIT %s",
            [*([] if after is None else [after]), size])
        rows = cursor.fetchall()
    batch = Batch(last_pk=rows[-1][0] if rows else None, rows=len(rows))
    for row in rows:
        for column, value in zip(target.columns, row[1:], strict=True):
            if not value:
                continue
            if not value.startswith(crypto.PREFIX):
                batch.clear += 1
                batch.changes.append(Change(row[0], column, value, crypto.encrypt(value)))
            elif crypto.is_current(value):
                batch.current += 1
            else:
                try:
                    batch.changes.append(Change(row[0], column, value, crypto.rotate(value)))
                except InvalidToken:  # no configured key opens it: leave it for someone to look at
                    batch.unreadable += 1
    return batch


def write_batch(schema: str, target: Target, changes: Iterable[Change]) -> list[Change]:
    """Write the new tokens where each value is still the one read (compare-on-old-value);
    returns the changes written (the others were edited meanwhile). Run inside the batch's
    transaction."""
    by_column: dict[str, dict[Any, Change]] = {}
    for change in changes:
        by_column.setdefault(change.column, {})[change.pk] = change
    written: list[Change] = []
    with connection.cursor() as cursor:
        for column, items in by_column.items():
            values = ", ".join([f"(%s::{target.pk_type}, %s, %s)"] * len(items))
            cursor.execute(
                f"UPDATE {_q(schema)}.{_q(target.table)} AS t SET {_q(column)} = v.new "  # noqa: S608
                f"FROM (VALUES {values}) AS v(pk, old, new) "
                f"WHERE t.{_q(target.pk)} = v.pk AND t.{_q(column)} = v.old RETURNING t.{_q(target.pk)}",
                [x for c in items.values() for x in (c.pk, c.old, c.new)])
            written.extend(items[row[0]] for row in cursor.fetchall())
    return written


def _retryable(exc: DatabaseError) -> bool:
    import psycopg.errors

    cause = exc.__cause__
    return isinstance(cause, psycopg.errors.LockNotAvailable | psycopg.errors.DeadlockDetected)


def rotate_table(schema: str, target: Target, *, dry_run: bool = False, size: int = BATCH,
                 between_batches: Callable[[Any], None] | None = None) -> TableCount:
    """Re-encrypt one table of one schema, batch by batch (each its own transaction)."""
    count = TableCount(schema, target.table)
    after = None
    while True:
        for attempt in range(RETRIES):
            try:
                with transaction.atomic():
                    with connection.cursor() as cursor:
                        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                        # The append-only audit log lets this transaction rewrite its encrypted
                        # ip/user_agent columns, and nothing else (accounts migration 0004).
                        cursor.execute("SET LOCAL majismart.audit_rekey = 'on'")
                    batch = read_batch(schema, target, after=after, size=size)
                    written = batch.changes if dry_run else write_batch(schema, target, batch.changes)
                break
            except DatabaseError as exc:
                if attempt == RETRIES - 1 or not _retryable(exc):
                    raise
                time.sleep(0.2 * (attempt + 1))  # someone holds a row of this batch: try it again
        if not batch.rows:
            return count
        count.rows += batch.rows
        count.current += batch.current
        count.unreadable += batch.unreadable
        count.changed_meanwhile += len(batch.changes) - len(written)
        for change in written:
            if change.old.startswith(crypto.PREFIX):
                count.rotated += 1
            else:
                count.clear += 1
        after = batch.last_pk
        if between_batches is not None:
            between_batches(after)


def rotate_all(*, dry_run: bool = False, size: int = BATCH, only_schemas: Iterable[str] | None = None,
               report: Callable[[TableCount], None] | None = None) -> list[TableCount]:
    """Every encrypted column of every schema (public first, then each provider's)."""
    wanted = set(only_schemas) if only_schemas is not None else None
    results = []
    tables = targets()
    for schema in schemas():
        if wanted is not None and schema not in wanted:
            continue
        for target in tables:
            if not table_exists(schema, target.table):
                continue  # this app's tables live in the other kind of schema
            result = rotate_table(schema, target, dry_run=dry_run, size=size)
            results.append(result)
            if report is not None:
                report(result)
    return results
