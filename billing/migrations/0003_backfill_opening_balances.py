from django.db import migrations


def backfill(apps, schema_editor):
    Client = apps.get_model("clients", "Client")
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    have = set(LedgerEntry.objects.filter(kind="opening_balance").values_list("client_id", flat=True))
    LedgerEntry.objects.bulk_create(
        LedgerEntry(client_id=c.pk, kind="opening_balance", amount=c.opening_balance, booked_on=c.created.date(),
                    reference=c.account_number, description="Balance brought forward from the previous system")
        for c in Client.objects.exclude(opening_balance=0).exclude(pk__in=have))


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_ledger"), ("clients", "0002_default_categories")]
    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
