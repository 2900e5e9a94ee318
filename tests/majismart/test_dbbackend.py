"""The database backend (majismart.dbbackend): django-tenants' own, with a table list that asks
for one schema's relations through an index instead of testing the visibility of every relation
of every schema (what made each schema's `migrate` slower as providers were added)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.backends.postgresql.introspection import DatabaseIntrospection as DjangoIntrospection
from django_tenants.utils import schema_context

from majismart.dbbackend.base import _SCHEMA_TABLES, DatabaseIntrospection
from tenants.models import TEMPLATE_SCHEMA


def _djangos_list(schema: str) -> list:
    """Django's own answer: every relation visible with the schema alone on search_path."""
    with schema_context(schema), connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        was = cursor.fetchone()[0]
        cursor.execute(f"SET search_path = {connection.ops.quote_name(schema)}")
        try:
            return sorted(DjangoIntrospection.get_table_list(connection.introspection, cursor))
        finally:
            cursor.execute(f"SET search_path = {was}")


@pytest.mark.django_db
def test_it_is_the_backend_in_use_and_lists_what_django_lists(alpha) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(connection.introspection, DatabaseIntrospection)
    with connection.cursor() as cursor:
        cursor.execute('CREATE VIEW "alpha".a_view AS SELECT 1 AS one')
        cursor.execute('COMMENT ON TABLE "alpha".clients_client IS %s', ["the register"])
    for schema in ("alpha", TEMPLATE_SCHEMA, "public"):
        with schema_context(schema), connection.cursor() as cursor:
            ours = sorted(connection.introspection.get_table_list(cursor))
        assert ours == _djangos_list(schema), schema
    with schema_context("alpha"):
        tables = {t.name: t for t in connection.introspection.get_table_list(connection.cursor())}
        names = connection.introspection.table_names()
    assert tables["a_view"].type == "v" and tables["clients_client"].comment == "the register"
    assert "django_migrations" in names and "tenants_provider" not in names and len(names) > 80


@pytest.mark.django_db
def test_the_list_is_an_index_lookup_not_a_walk_over_every_schema(alpha) -> None:  # type: ignore[no-untyped-def]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # as the planner chooses with many schemas
        cursor.execute("EXPLAIN " + _SCHEMA_TABLES, ["alpha"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = on")
    assert "pg_depend_reference_index" in plan and "pg_class_oid_index" in plan, plan
    assert "pg_table_is_visible" not in plan
