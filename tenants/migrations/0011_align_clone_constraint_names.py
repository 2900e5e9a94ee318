"""Providers cloned before tenants.clones existed carry their unique constraints under
PostgreSQL's default names: give them the template's (see tenants/clones.py)."""

from django.db import migrations


def align(apps, schema_editor):  # type: ignore[no-untyped-def]
    from tenants.clones import align_constraint_names
    from tenants.models import TEMPLATE_SCHEMA

    Provider = apps.get_model("tenants", "Provider")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace")
        schemas = {row[0] for row in cursor.fetchall()}
    if TEMPLATE_SCHEMA not in schemas:
        return  # no template: every provider was made by its migrations, with the names they give
    for schema in Provider.objects.exclude(schema_name__in=["public", TEMPLATE_SCHEMA]).values_list("schema_name", flat=True):
        if schema in schemas:
            align_constraint_names(schema, TEMPLATE_SCHEMA)


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0010_language"),
    ]

    operations = [
        migrations.RunPython(align, migrations.RunPython.noop),
    ]
