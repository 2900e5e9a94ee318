"""A provider's schema is a copy of the template (tenants.clones.clone_template): the same tables,
columns, defaults, constraints, indexes, identity sequences, functions and triggers under the same
names, and the template's rows. Its constraints carry the template's names (the ones its
migrations gave), so a later migration that drops or renames one by name works on every provider,
and a provider cloned before that was so is repaired."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from django.db import ProgrammingError, connection

from tenants.clones import align_constraint_names, clone_template
from tenants.models import TEMPLATE_SCHEMA, Provider
from tenants.services import provider_create

NAMES = """SELECT cl.relname, c.conname FROM pg_constraint AS c JOIN pg_class AS cl ON cl.oid = c.conrelid
           JOIN pg_namespace AS n ON n.oid = cl.relnamespace WHERE n.nspname = %s AND c.contype IN ('p', 'u', 'x')"""


def _names(schema: str) -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(NAMES, [schema])
        return set(cursor.fetchall())


@pytest.fixture
def cloned(db):  # type: ignore[no-untyped-def]
    created = provider_create(name="Clone Water", slug="clone-water", owner_email="owner@clone.test",
                              owner_password="a-long-pass-phrase-2026")
    yield created.provider
    connection.set_schema_to_public()


@pytest.mark.django_db
def test_a_new_provider_has_the_templates_constraint_names(cloned: Provider) -> None:
    template = _names(TEMPLATE_SCHEMA)
    assert ("payments_payment", "one_payment_per_receipt") in template
    assert _names(cloned.schema_name) == template
    # As a migration removing the constraint by its model's name would do it.
    with connection.cursor() as cursor:
        cursor.execute('ALTER TABLE "clone-water".payments_payment DROP CONSTRAINT one_payment_per_receipt')


@pytest.mark.django_db
def test_a_provider_cloned_before_the_fix_is_repaired(cloned: Provider) -> None:
    schema = cloned.schema_name
    # As pg-clone-schema left them: PostgreSQL's default names.
    defaults = {("payments_payment", "one_payment_per_receipt", "payments_payment_method_receipt_key"),
                ("meters_reading", "one_reading_per_meter_and_time", "meters_reading_meter_id_read_at_key"),
                ("django_content_type", "django_content_type_app_label_model_76bd3d3b_uniq",
                 "django_content_type_app_label_model_key")}
    with connection.cursor() as cursor:
        for table, name, default in defaults:
            cursor.execute(f'ALTER TABLE "{schema}".{table} RENAME CONSTRAINT {name} TO {default}')
    assert _names(schema) != _names(TEMPLATE_SCHEMA)
    migration = importlib.import_module("tenants.migrations.0011_align_clone_constraint_names")
    with connection.schema_editor() as editor:
        migration.align(apps, editor)
    assert _names(schema) == _names(TEMPLATE_SCHEMA)
    assert align_constraint_names(schema, TEMPLATE_SCHEMA) == []  # aligned: nothing more to do


# Everything a schema defines, each with the names PostgreSQL prints when the schema alone is on
# search_path (so two schemas' definitions compare as text).
CATALOGUE = {
    "columns": """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                         pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attcollation,
                         rank() OVER (PARTITION BY c.oid ORDER BY a.attnum)
                  FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
                  LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                  WHERE c.relnamespace = %(ns)s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped""",
    "relations": """SELECT c.relname, c.relkind, c.reloptions, c.relpersistence FROM pg_class AS c
                    WHERE c.relnamespace = %(ns)s""",
    "constraints": """SELECT cl.relname, c.conname, c.contype, pg_get_constraintdef(c.oid), c.condeferrable,
                             c.condeferred, c.convalidated
                      FROM pg_constraint AS c JOIN pg_class AS cl ON cl.oid = c.conrelid
                      WHERE c.connamespace = %(ns)s""",
    "indexes": """SELECT cl.relname, replace(pg_get_indexdef(i.indexrelid), %(schema)s || '.', '')
                  FROM pg_index AS i JOIN pg_class AS cl ON cl.oid = i.indexrelid WHERE cl.relnamespace = %(ns)s""",
    "sequences": """SELECT c.relname, s.seqtypid, s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache,
                           s.seqcycle, owner.relname, a.attname
                    FROM pg_sequence AS s JOIN pg_class AS c ON c.oid = s.seqrelid
                    JOIN pg_depend AS d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
                         AND d.refclassid = 'pg_class'::regclass
                    JOIN pg_class AS owner ON owner.oid = d.refobjid
                    JOIN pg_attribute AS a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                    WHERE c.relnamespace = %(ns)s""",
    "functions": """SELECT p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), p.prosrc,
                           p.prolang, p.provolatile, p.prosecdef, p.proconfig
                    FROM pg_proc AS p WHERE p.pronamespace = %(ns)s""",
    "triggers": """SELECT cl.relname, t.tgname, replace(pg_get_triggerdef(t.oid), %(schema)s || '.', '')
                   FROM pg_trigger AS t JOIN pg_class AS cl ON cl.oid = t.tgrelid
                   WHERE cl.relnamespace = %(ns)s AND NOT t.tgisinternal""",
}


def _catalogue(schema: str) -> dict[str, list[tuple]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT oid, quote_ident(nspname) FROM pg_namespace WHERE nspname = %s", [schema])
        ns, quoted = cursor.fetchone()
        cursor.execute(f"SET search_path TO {quoted}")
        seen = {}
        for part, sql in CATALOGUE.items():
            cursor.execute(sql, {"ns": ns, "schema": quoted})
            seen[part] = sorted(cursor.fetchall(), key=repr)
    connection.set_schema_to_public()
    return seen


def _uncast(definition: str) -> str:
    return re.sub(r"::[a-z ]+(\[\])?|[()]", "", definition)


def _rows(schema: str) -> dict[str, list[tuple]]:
    """Every row of every table of `schema`, and where each identity sequence stands."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT quote_ident(relname), relkind FROM pg_class WHERE relnamespace = %s::regnamespace "
                       "AND relkind IN ('r', 'S') ORDER BY relname", [f'"{schema}"'])
        rows = {}
        for name, kind in cursor.fetchall():
            cursor.execute(f'SELECT last_value, is_called FROM "{schema}".{name}' if kind == "S"  # noqa: S608 - catalogue names
                           else f'SELECT * FROM "{schema}".{name}')  # noqa: S608
            rows[name] = sorted(cursor.fetchall(), key=repr)
    return rows


@pytest.mark.django_db
def test_a_new_provider_is_the_template_to_the_last_definition_and_row(cloned: Provider) -> None:
    template, clone = _catalogue(TEMPLATE_SCHEMA), _catalogue(cloned.schema_name)
    for part in CATALOGUE:
        if part != "indexes":
            assert clone[part] == template[part], part
    # An index definition is PostgreSQL's own print of it; read back, a partial index's predicate
    # may print its casts otherwise (ARRAY['a'::varchar]::text[] comes back as ARRAY['a'::varchar::text]).
    # The same expression: names, tables, columns and the predicate's words are checked as they are.
    assert [name for name, _ in clone["indexes"]] == [name for name, _ in template["indexes"]]
    assert [_uncast(definition) for _, definition in clone["indexes"]] == \
        [_uncast(definition) for _, definition in template["indexes"]]
    reprinted = [a for a, b in zip(clone["indexes"], template["indexes"], strict=True) if a != b]
    assert all(" WHERE " in definition for _, definition in reprinted), reprinted
    assert len(template["relations"]) > 400 and len(template["triggers"]) >= 12 and len(template["functions"]) >= 3
    # The template's rows came too (content types, permissions, migrations), and its sequences'
    # positions with them, so the next row gets a fresh id; the provider's own rows are its own.
    template_rows, clone_rows = _rows(TEMPLATE_SCHEMA), _rows(cloned.schema_name)
    assert template_rows["django_content_type"] and template_rows["django_migrations"]
    owned = {"accounts_user", "accounts_auditevent", "accounts_user_id_seq", "accounts_auditevent_id_seq"}
    for table in template_rows.keys() - owned:
        assert clone_rows[table] == template_rows[table], table
    with connection.cursor() as cursor:
        cursor.execute('INSERT INTO "clone-water".django_content_type (app_label, model) VALUES (%s, %s) RETURNING id',
                       ["clone", "check"])
        assert cursor.fetchone()[0] > max(row[0] for row in template_rows["django_content_type"])


@pytest.mark.django_db
def test_the_clones_triggers_and_functions_are_its_own(cloned: Provider) -> None:
    """The ledger's append-only trigger calls the clone's function (dropping the template's
    would not touch it), and the reports' staleness mark lands in the clone's table."""
    with connection.cursor() as cursor:
        cursor.execute("""SELECT p.pronamespace::regnamespace::text FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid
                          WHERE t.tgrelid = '"clone-water".billing_ledgerentry'::regclass AND NOT t.tgisinternal""")
        assert {row[0] for row in cursor.fetchall()} == {'"clone-water"'}


@pytest.mark.django_db
def test_a_template_changed_by_a_migration_is_read_again() -> None:
    """The clone reads the template's definitions once per process and again whenever its
    migrations change: a new provider after a deploy has the new column."""
    clone_template(TEMPLATE_SCHEMA, "clone_before")
    with connection.cursor() as cursor:
        cursor.execute('ALTER TABLE "tenant_base".clients_client ADD COLUMN clone_check integer NOT NULL DEFAULT 7')
        cursor.execute('INSERT INTO "tenant_base".django_migrations (app, name, applied) '
                       "VALUES ('clients', '9999_clone_check', now())")
    clone_template(TEMPLATE_SCHEMA, "clone_after")
    template = _catalogue(TEMPLATE_SCHEMA)["columns"]
    assert [row[:5] for row in template if row[1] == "clone_check"] == [
        ("clients_client", "clone_check", "integer", True, "7")]
    assert _catalogue("clone_after")["columns"] == template
    assert _catalogue("clone_before")["columns"] == [row for row in template if row[1] != "clone_check"]


@pytest.mark.django_db
def test_a_clone_that_fails_leaves_no_schema_behind() -> None:
    with connection.cursor() as cursor:
        cursor.execute('CREATE SCHEMA "clone_taken"')
    with pytest.raises(ProgrammingError, match="already exists"):
        clone_template(TEMPLATE_SCHEMA, "clone_taken")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'clone_taken'::regnamespace")
        assert cursor.fetchone()[0] == 0
