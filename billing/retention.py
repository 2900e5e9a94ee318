"""Billing's part of the retention purge (privacy.retention.purge_billing): the statements that
read and delete billing tables, and the one exception to the append-only ledger.

privacy runs these steps in its order with the payments, meters and clients parts; they share
temporary tables, each with an `id` primary key: ret_held (clients nothing is purged of),
ret_invoices, ret_payments (payments.retention, with each payment's `ledger_entry_id` and
`reversal_entry_id`), ret_ledger, ret_forward, ret_credit_notes, ret_lines, ret_runs and
ret_closed (closed clients, clients.retention). %(day)s is the cutoff day, %(moment)s its
midnight, %(month)s its `YYYY-MM`, %(bf)s `BROUGHT_FORWARD_REFERENCE`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from majismart.sql import Step, steps_run

# Marks the ledger entry that stands for the entries a purge removed (kind opening_balance, the
# statement's "Opening balance"); a later purge rolls it into the next one.
BROUGHT_FORWARD_REFERENCE = "RETENTION"
BROUGHT_FORWARD_TEXT = "Balance brought forward at {day}"
LEDGER_CARRY_FORWARD_SETTING = "majismart.ledger_carry_forward"

# Clients whose ledger cannot be rolled forward: an opening balance on or after the cutoff with
# entries before it (it cannot be replaced by a balance brought forward). Nothing of theirs is
# purged; in practice an account migrated with backdated payments.
HELD = Step(table="ret_held", sql="""
    SELECT DISTINCT o.client_id AS id FROM billing_ledgerentry o
    WHERE o.kind = 'opening_balance' AND o.booked_on >= %(day)s
      AND EXISTS (SELECT 1 FROM billing_ledgerentry e WHERE e.client_id = o.client_id AND e.booked_on < %(day)s)""")

# Invoices whose period ended before the cutoff day, with nothing of billing still in retention
# that refers to them: no ledger entry or credit note on or after the cutoff (payments narrows
# them further: payments.retention.INVOICES_PAID_SINCE).
INVOICES = Step(table="ret_invoices", sql="""
    SELECT i.id FROM billing_invoice i
    WHERE i.period < %(month)s
      AND NOT EXISTS (SELECT 1 FROM ret_held h WHERE h.id = i.client_id)
      AND NOT EXISTS (SELECT 1 FROM billing_ledgerentry e WHERE e.invoice_id = i.id AND e.booked_on >= %(day)s)
      AND NOT EXISTS (SELECT 1 FROM billing_creditnote n WHERE n.invoice_id = i.id AND n.issued_on >= %(day)s)
      AND NOT EXISTS (SELECT 1 FROM billing_charge c JOIN billing_ledgerentry e ON e.id = c.ledger_entry_id
                      WHERE c.invoice_id = i.id AND e.booked_on >= %(day)s)""")

# A payment stays while its ledger entry (or its reversal) is booked on or after the cutoff.
PAYMENTS_BOOKED_SINCE = Step("""
    DELETE FROM ret_payments r WHERE EXISTS (SELECT 1 FROM billing_ledgerentry e
        WHERE e.id IN (r.ledger_entry_id, r.reversal_entry_id) AND e.booked_on >= %(day)s)""")

# Ledger entries booked before the cutoff day, of an invoice that goes or of none (payments
# keeps those of the payments that stay: payments.retention.LEDGER_OF_KEPT_PAYMENTS).
LEDGER = Step(table="ret_ledger", sql="""
    SELECT e.id, e.client_id, e.kind, e.reference, e.amount, e.reverses_id FROM billing_ledgerentry e
    WHERE e.booked_on < %(day)s
      AND NOT EXISTS (SELECT 1 FROM ret_held h WHERE h.id = e.client_id)
      AND (e.invoice_id IS NULL OR EXISTS (SELECT 1 FROM ret_invoices r WHERE r.id = e.invoice_id))""")

LEDGER_NARROW = [
    # A fee or deposit's entry goes with its charge, and the charge only with the bills that
    # carry it (its one-off or next bill, or a draft's line).
    Step("""DELETE FROM ret_ledger r WHERE EXISTS (
               SELECT 1 FROM billing_charge c WHERE c.ledger_entry_id = r.id
                  AND ((c.invoice_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ret_invoices i WHERE i.id = c.invoice_id))
                       OR EXISTS (SELECT 1 FROM billing_invoiceline l WHERE l.charge_id = c.id
                                  AND NOT EXISTS (SELECT 1 FROM ret_invoices i WHERE i.id = l.invoice_id))))"""),
    # An entry and its reversal go together or not at all (a reversal outlives its original
    # only if the original is still referred to: then both stay).
    Step("""DELETE FROM ret_ledger r WHERE (r.reverses_id IS NOT NULL
                                            AND NOT EXISTS (SELECT 1 FROM ret_ledger o WHERE o.id = r.reverses_id))
               OR EXISTS (SELECT 1 FROM billing_ledgerentry v WHERE v.reverses_id = r.id
                          AND NOT EXISTS (SELECT 1 FROM ret_ledger o WHERE o.id = v.id))"""),
    # A client whose only entry past retention is its balance brought forward has nothing to
    # roll forward: rewriting it every day would change nothing.
    Step("""DELETE FROM ret_ledger r WHERE NOT EXISTS (
               SELECT 1 FROM ret_ledger k WHERE k.client_id = r.client_id
                  AND NOT (k.kind = 'opening_balance' AND k.reference = %(bf)s))"""),
]

FORWARD = Step(table="ret_forward", sql="""
    SELECT client_id AS id, sum(amount) AS total FROM ret_ledger GROUP BY client_id HAVING sum(amount) <> 0""")
CREDIT_NOTES = Step(table="ret_credit_notes",
                    sql="SELECT n.id FROM billing_creditnote n JOIN ret_invoices r ON r.id = n.invoice_id")
LINES = Step(table="ret_lines", sql="SELECT l.id FROM billing_invoiceline l JOIN ret_invoices r ON r.id = l.invoice_id")
RUNS = Step(table="ret_runs", sql="""
    SELECT b.id FROM billing_billingrun b WHERE b.period < %(month)s
      AND NOT EXISTS (SELECT 1 FROM billing_invoice i WHERE i.run_id = b.id
                      AND NOT EXISTS (SELECT 1 FROM ret_invoices r WHERE r.id = i.id))""")

# A closed client keeps its identity while an invoice or ledger entry of its stays (its balance
# brought forward is not a record of its own).
CLOSED_WITH_RECORDS = Step("""
    DELETE FROM ret_closed c WHERE EXISTS (SELECT 1 FROM billing_invoice i WHERE i.client_id = c.id
                                           AND NOT EXISTS (SELECT 1 FROM ret_invoices r WHERE r.id = i.id))
        OR EXISTS (SELECT 1 FROM billing_ledgerentry e WHERE e.client_id = c.id
                   AND NOT (e.kind = 'opening_balance' AND e.reference = %(bf)s)
                   AND NOT EXISTS (SELECT 1 FROM ret_ledger r WHERE r.id = e.id))""")

# In dependency order, after payments let go of what goes (payments.retention.DELETE).
DELETE = [
    Step("DELETE FROM billing_creditnote WHERE id IN (SELECT id FROM ret_credit_notes)"),
    # Charges before their ledger entries; the bill lines naming them before the charges.
    Step("DELETE FROM billing_invoiceline WHERE charge_id IS NOT NULL AND id IN (SELECT id FROM ret_lines)"),
    Step("DELETE FROM billing_charge WHERE ledger_entry_id IN (SELECT id FROM ret_ledger)"),
    Step("DELETE FROM billing_ledgerentry WHERE id IN (SELECT id FROM ret_ledger)"),
    # After the delete: the client's old balance brought forward (if any) has just gone, and a
    # client has one opening balance.
    Step("""INSERT INTO billing_ledgerentry (client_id, kind, amount, booked_on, reference, description, created)
            SELECT id, 'opening_balance', total, %(day)s, %(bf)s, %(bf_text)s, %(now)s FROM ret_forward"""),
    Step("DELETE FROM billing_invoiceline WHERE id IN (SELECT id FROM ret_lines)"),
    Step("DELETE FROM billing_invoicemeter WHERE invoice_id IN (SELECT id FROM ret_invoices)"),
    Step("DELETE FROM billing_invoice WHERE id IN (SELECT id FROM ret_invoices)"),
    Step("DELETE FROM billing_billingrun WHERE id IN (SELECT id FROM ret_runs)"),
]


def invoice_files(cursor: CursorWrapper) -> list[str]:
    """The stored PDFs of the issued invoices that go."""
    cursor.execute("""SELECT 'invoices/' || i.period || '/' || i.number || '.pdf' FROM billing_invoice i
                      JOIN ret_invoices r ON r.id = i.id WHERE i.status = 'issued' AND i.number IS NOT NULL""")
    return [row[0] for row in cursor.fetchall()]


def billing_purge(cursor: CursorWrapper, params: Mapping[str, Any]) -> None:
    """Delete what the purge selected and book each client's balance brought forward."""
    with ledger_carry_forward():  # the one exception to the append-only ledger
        steps_run(cursor, DELETE, params)


@contextmanager
def ledger_carry_forward() -> Iterator[None]:
    """The one way ledger entries leave the append-only ledger (trigger of migration 0010): the
    retention purge, inside one transaction, deletes entries past the retention period and books
    one "balance brought forward" entry of their sum, so every balance stays what it was. The
    setting is on for the statements inside this block only, then off again."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, 'on', true)", [LEDGER_CARRY_FORWARD_SETTING])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, 'off', true)", [LEDGER_CARRY_FORWARD_SETTING])
