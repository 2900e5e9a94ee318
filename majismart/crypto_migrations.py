"""Data migrations that bring existing clear values under encryption (and back, when a migration
is reversed). Raw SQL in batches by primary key: a historical model's EncryptedTextField would
try to decrypt the clear values it is about to encrypt.

Used by the migrations that turn a column into an EncryptedTextField (clients 0004, payments
0005, notifications 0002). Each is idempotent: values already `enc1:` are left alone, so a
re-run or a schema cloned from an already-migrated template changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from majismart import crypto
from majismart.sql import quote_ident as _quote

BATCH = 2000


def _batches(cursor: Any, table: str, columns: Sequence[str], where: str, *, pk: str,
             batch: int) -> Iterator[list[tuple]]:
    """The rows (pk first, then `columns`) matching `where`, `batch` at a time by primary key.
    Each batch is read after the previous one was written back, so a row the write changed
    (and that no longer matches) is not met again."""
    selected = ", ".join(_quote(c) for c in columns)
    last = None
    while True:
        after = "" if last is None else f"{_quote(pk)} > %s AND "
        cursor.execute(f"SELECT {_quote(pk)}, {selected} FROM {_quote(table)} WHERE {after}({where}) "  # noqa: S608
                       f"ORDER BY {_quote(pk)} LIMIT %s", [*([] if last is None else [last]), batch])
        rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def encrypt_columns(schema_editor: Any, table: str, columns: Sequence[str], *,
                    extra: Callable[[dict[str, str]], dict[str, Any]] | None = None,
                    pk: str = "id", batch: int = BATCH) -> int:
    """Encrypt every clear (non-empty, not `enc1:`) value of `columns` in `table`. `extra` maps a
    row's clear values to more columns to set with them (e.g. a blind index). Returns the rows
    changed."""
    clear = " OR ".join(f"({_quote(c)} <> '' AND {_quote(c)} NOT LIKE 'enc1:%%')" for c in columns)
    changed = 0
    with schema_editor.connection.cursor() as cursor:
        for rows in _batches(cursor, table, columns, clear, pk=pk, batch=batch):
            updates, names = [], None
            for row in rows:
                values, plain = {}, {}
                for column, value in zip(columns, row[1:], strict=True):
                    value = value or ""
                    if value.startswith(crypto.PREFIX):
                        values[column], plain[column] = value, crypto.decrypt(value)
                    else:
                        values[column], plain[column] = (crypto.encrypt(value) if value else ""), value
                if extra is not None:
                    values.update(extra(plain))
                names = list(values)
                updates.append([*values.values(), row[0]])
            assignments = ", ".join(f"{_quote(c)} = %s" for c in names or [])
            # psycopg pipelines executemany: one round trip per batch, not per row.
            cursor.executemany(f"UPDATE {_quote(table)} SET {assignments} WHERE {_quote(pk)} = %s",  # noqa: S608
                               updates)
            changed += len(rows)
    return changed


def _clear(value: str | None) -> str:
    return crypto.decrypt(value) if value and value.startswith(crypto.PREFIX) else (value or "")


def decrypt_columns(schema_editor: Any, table: str, columns: Sequence[str], *, pk: str = "id",
                    batch: int = BATCH) -> int:
    """The reverse: every `enc1:` value of `columns` back in clear (for a reversed migration)."""
    encrypted = " OR ".join(f"{_quote(c)} LIKE 'enc1:%%'" for c in columns)
    assignments = ", ".join(f"{_quote(c)} = %s" for c in columns)
    changed = 0
    with schema_editor.connection.cursor() as cursor:
        for rows in _batches(cursor, table, columns, encrypted, pk=pk, batch=batch):
            cursor.executemany(
                f"UPDATE {_quote(table)} SET {assignments} WHERE {_quote(pk)} = %s",  # noqa: S608
                [[*(_clear(v) for v in row[1:]), row[0]] for row in rows])
            changed += len(rows)
    return changed
