"""The audit table is append-only, enforced by PostgreSQL in every schema (this migration runs
per schema, and the template schema new providers are cloned from carries the function and
trigger with it).

- DELETE only in a transaction that ran `SET LOCAL majismart.audit_purge = 'on'` (the retention
  purge, accounts.services.audit_purge_before);
- UPDATE only in a transaction that ran `SET LOCAL majismart.audit_rekey = 'on'`, and then only of
  the encrypted ip and user_agent columns (key rotation re-encrypts them; nothing else moves);
  or `SET LOCAL majismart.audit_erase = 'on'`, and then only of actor, ip and user_agent (erasing
  a person replaces who they were with a pseudonym; what happened stays);
- TRUNCATE never.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION accounts_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND coalesce(current_setting('majismart.audit_purge', true), '') = 'on' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND coalesce(current_setting('majismart.audit_rekey', true), '') = 'on'
       AND (NEW.id, NEW.actor, NEW.action, NEW.category, NEW.object_repr, NEW.target_type, NEW.target_id,
            NEW.extra_data, NEW.created)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.actor, OLD.action, OLD.category, OLD.object_repr, OLD.target_type, OLD.target_id,
            OLD.extra_data, OLD.created) THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND coalesce(current_setting('majismart.audit_erase', true), '') = 'on'
       AND (NEW.id, NEW.action, NEW.category, NEW.object_repr, NEW.target_type, NEW.target_id,
            NEW.extra_data, NEW.created)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.action, OLD.category, OLD.object_repr, OLD.target_type, OLD.target_id,
            OLD.extra_data, OLD.created) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER IF EXISTS accounts_auditevent_append_only ON accounts_auditevent;
CREATE TRIGGER accounts_auditevent_append_only BEFORE UPDATE OR DELETE ON accounts_auditevent
    FOR EACH ROW EXECUTE FUNCTION accounts_auditevent_append_only();
DROP TRIGGER IF EXISTS accounts_auditevent_no_truncate ON accounts_auditevent;
CREATE TRIGGER accounts_auditevent_no_truncate BEFORE TRUNCATE ON accounts_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION accounts_auditevent_append_only();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS accounts_auditevent_no_truncate ON accounts_auditevent;
DROP TRIGGER IF EXISTS accounts_auditevent_append_only ON accounts_auditevent;
DROP FUNCTION IF EXISTS accounts_auditevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_encrypt_names_scrub_audit")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
