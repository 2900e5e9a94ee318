from django.db import migrations

DEFAULTS = [("domestic", "Domestic"), ("commercial", "Commercial"), ("institutional", "Institutional"),
            ("kiosk", "Water kiosk")]


def add_defaults(apps, schema_editor):
    Category = apps.get_model("clients", "Category")
    for code, name in DEFAULTS:
        Category.objects.get_or_create(code=code, defaults={"name": name})
    apps.get_model("clients", "ClientSettings").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("clients", "0001_initial")]
    operations = [migrations.RunPython(add_defaults, migrations.RunPython.noop)]
