"""A billing run's summary listed skipped clients as "<account> <name>": names are encrypted at
rest now (issue 7), so the summaries keep the id and account number only (the run page reads the
names, decrypted, when it shows them)."""

from django.db import migrations


def scrub(apps, schema_editor):  # type: ignore[no-untyped-def]
    BillingRun = apps.get_model("billing", "BillingRun")
    with schema_editor.connection.cursor() as cursor:
        for run in BillingRun.objects.exclude(summary={}).only("pk", "summary"):
            groups = run.summary.get("skipped") or []
            ids = [c["id"] for g in groups for c in g.get("clients", []) if "name" in c]
            if not ids:
                continue
            cursor.execute("SELECT id, account_number FROM clients_client WHERE id = ANY(%s)", [ids])
            accounts = dict(cursor.fetchall())
            for g in groups:
                g["clients"] = [{"id": c["id"], "account": c.get("account") or accounts.get(c["id"], "")}
                                for c in g.get("clients", [])]
            BillingRun.objects.filter(pk=run.pk).update(summary=run.summary)


class Migration(migrations.Migration):

    dependencies = [
        ("billing", "0008_fewer_indexes"),
        ("clients", "0003_account_upper_index"),
    ]

    operations = [migrations.RunPython(scrub, migrations.RunPython.noop, elidable=False)]
