from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django_tenants.utils import get_public_schema_name, schema_context

from majismart import crypto
from tenants.models import Provider

BATCH = 1000


def _encrypted_fields(model: Any) -> list[str]:
    return [f.column for f in model._meta.concrete_fields if isinstance(f, crypto.EncryptedTextField)]


def _rotate_table(model: Any, columns: list[str]) -> int:
    """Re-encrypt every value under the first key and recompute its blind index (`<col>_index`)."""
    table = model._meta.db_table
    index_columns = {c: f"{c}_index" for c in columns
                     if any(f.column == f"{c}_index" for f in model._meta.concrete_fields)}
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [table])
        if cursor.fetchone()[0] is None:
            return 0  # this app's tables live in the other kind of schema
        cursor.execute(f'SELECT id, {", ".join(columns)} FROM "{table}"')  # noqa: S608 - names from the model
        rows = cursor.fetchall()
        updates = []
        for row in rows:
            values = []
            for column, token in zip(columns, row[1:], strict=True):
                clear = crypto.decrypt(token) if token else ""
                values.append(crypto.encrypt(clear) if clear else "")
                if column in index_columns:
                    values.append(crypto.blind_index(clear) if clear else "")
            updates.append((*values, row[0]))
        assignments = []
        for column in columns:
            assignments.append(f'"{column}" = %s')
            if column in index_columns:
                assignments.append(f'"{index_columns[column]}" = %s')
        for start in range(0, len(updates), BATCH):
            cursor.executemany(f'UPDATE "{table}" SET {", ".join(assignments)} WHERE id = %s',  # noqa: S608
                               updates[start:start + BATCH])
    return len(rows)


class Command(BaseCommand):
    help = ("Re-encrypt personal fields in every schema under the first FIELD_ENCRYPTION_KEYS key and "
            "recompute their blind indexes. Run after putting a new key first; then the old keys can go.")

    def handle(self, *args: Any, **opts: Any) -> None:
        models = [(m, _encrypted_fields(m)) for m in apps.get_models()]
        models = [(m, cols) for m, cols in models if cols]
        schemas = [get_public_schema_name(), *Provider.objects.exclude(schema_name=get_public_schema_name())
                   .values_list("schema_name", flat=True)]
        total = 0
        for schema in schemas:
            with schema_context(schema), transaction.atomic():
                for model, columns in models:
                    total += _rotate_table(model, columns)
        self.stdout.write(f"Re-encrypted {total} rows in {len(schemas)} schemas.")
