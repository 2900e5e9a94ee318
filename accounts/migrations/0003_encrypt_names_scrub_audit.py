"""Existing rows under the new rules: users' names encrypted, old audit rows given a category,
and client names taken out of old audit rows (their object_repr was "<account> <name>")."""

from django.db import migrations

from majismart import crypto

SETTINGS_ACTIONS = ("api_key.created", "api_key.revoked", "billing_rules.updated", "clients.numbering_changed",
                    "notifications.template_changed", "notifications.template_reset",
                    "notifications.settings_changed", "payments.settings_changed", "payments.c2b_registered",
                    "payments.c2b_register_failed", "provider.branding_changed", "tariff.created")


def encrypt_names(connection) -> int:
    """Encrypt every user's name still in clear; returns how many."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, full_name FROM accounts_user WHERE full_name <> '' AND full_name NOT LIKE %s",
                       [crypto.PREFIX + "%"])
        rows = cursor.fetchall()
        cursor.executemany("UPDATE accounts_user SET full_name = %s WHERE id = %s",
                           [(crypto.encrypt(name), pk) for pk, name in rows])
    return len(rows)


def forwards(apps, schema_editor):
    encrypt_names(schema_editor.connection)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_auditevent SET category = 'settings' WHERE action = ANY(%s)",
                       [list(SETTINGS_ACTIONS)])
        # "A-00012 Jane Doe" -> "A-00012" (account numbers have no spaces).
        cursor.execute("UPDATE accounts_auditevent SET object_repr = split_part(object_repr, ' ', 1) "
                       "WHERE action IN ('client.created', 'client.updated')")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_audit_context")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
