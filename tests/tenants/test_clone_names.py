"""A provider's schema is a clone of the template: its constraints carry the template's names
(the ones its migrations gave), so a later migration that drops or renames one by name works on
every provider, and a provider cloned before the fix is repaired."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import connection

from tenants.clones import align_constraint_names
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
