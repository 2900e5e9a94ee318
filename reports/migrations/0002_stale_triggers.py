"""The figures are marked out of date by PostgreSQL in the same transaction as any write to what
they are made of, whatever wrote it (the ORM, the billing run's COPY, the retention purge): a
statement trigger on each source table puts the one `reports_stale` row in place. ON CONFLICT DO
NOTHING takes no row lock when the row is already there, so busy writers (M-Pesa confirmations)
never wait on each other for it."""

from django.db import migrations

SOURCES = ("billing_ledgerentry", "billing_invoice", "billing_invoiceline", "billing_creditnote",
           "payments_payment", "meters_reading", "meters_meter", "clients_client")

FORWARD = r"""
CREATE OR REPLACE FUNCTION reports_mark_stale() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- The schema of the table written (not search_path: an operator command may write a schema's
    -- tables by their qualified names from another).
    EXECUTE format('INSERT INTO %I.reports_stale (id, since) VALUES (1, now()) ON CONFLICT (id) DO NOTHING',
                   TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;
""" + "".join(f"""
DROP TRIGGER IF EXISTS reports_stale ON {table};
CREATE TRIGGER reports_stale AFTER INSERT OR UPDATE OR DELETE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION reports_mark_stale();
""" for table in SOURCES)  # noqa: S608 - our table names

BACKWARD = "".join(f"DROP TRIGGER IF EXISTS reports_stale ON {table};\n" for table in SOURCES) + \
    "DROP FUNCTION IF EXISTS reports_mark_stale();\n"


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_initial"),
        ("billing", "0013_billingsettings_disconnected_fixed_charges"),
        ("payments", "0008_payment_method_cheque"),
        ("meters", "0002_reading_import"),
        ("clients", "0005_client_disconnection_exempt"),
    ]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
