"""The ledger is append-only, enforced by PostgreSQL in every schema (as the audit log is): the
ORM's refusal (LedgerEntry.save/delete) is not the only guard, raw SQL and other tools meet this
trigger too.

- UPDATE never: a mistake is corrected by a reversal entry;
- DELETE only inside `billing.retention.ledger_carry_forward()` (the retention purge replacing
  entries past the retention period by one "balance brought forward" entry of their sum), which
  sets `majismart.ledger_carry_forward` for its statements only;
- TRUNCATE never.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION billing_ledgerentry_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND coalesce(current_setting('majismart.ledger_carry_forward', true), '') = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the ledger is append-only: % on % refused (post a reversal instead)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER IF EXISTS billing_ledgerentry_append_only ON billing_ledgerentry;
CREATE TRIGGER billing_ledgerentry_append_only BEFORE UPDATE OR DELETE ON billing_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION billing_ledgerentry_append_only();
DROP TRIGGER IF EXISTS billing_ledgerentry_no_truncate ON billing_ledgerentry;
CREATE TRIGGER billing_ledgerentry_no_truncate BEFORE TRUNCATE ON billing_ledgerentry
    FOR EACH STATEMENT EXECUTE FUNCTION billing_ledgerentry_append_only();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS billing_ledgerentry_no_truncate ON billing_ledgerentry;
DROP TRIGGER IF EXISTS billing_ledgerentry_append_only ON billing_ledgerentry;
DROP FUNCTION IF EXISTS billing_ledgerentry_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("billing", "0009_run_summaries_without_names")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
