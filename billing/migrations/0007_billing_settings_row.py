from django.db import migrations


def create_row(apps, schema_editor):  # type: ignore[no-untyped-def]
    # Every provider has its rules from the start (defaults: 14 days to pay, no penalty).
    apps.get_model("billing", "BillingSettings").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("billing", "0006_invoice_meters")]
    operations = [migrations.RunPython(create_row, migrations.RunPython.noop)]
