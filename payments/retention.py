"""Payments' part of the retention purge (privacy.retention.purge_billing): the statements that
read and delete payments tables. privacy runs them in its order with billing's (billing.retention,
which describes the temporary tables they share) and the others. Payments keeps what a payment
still in retention refers to, and a payment goes only with all the invoices it paid.
"""

from __future__ import annotations

from majismart.sql import Step

# An invoice stays while a payment made on or after the cutoff is allocated to it (that
# payment's record stays, and so does what it paid).
INVOICES_PAID_SINCE = Step("""
    DELETE FROM ret_invoices r WHERE EXISTS (
        SELECT 1 FROM payments_allocation a JOIN payments_payment p ON p.id = a.payment_id
        WHERE a.invoice_id = r.id AND p.paid_at >= %(moment)s)""")

# Payments made before the cutoff all of whose allocations go with their invoices: a payment
# allocated to an invoice that stays, stays (and so does that allocation). With the ledger
# entries each booked, which billing checks (billing.retention.PAYMENTS_BOOKED_SINCE).
PAYMENTS = Step(table="ret_payments", sql="""
    SELECT p.id, p.ledger_entry_id, p.reversal_entry_id FROM payments_payment p
    WHERE p.paid_at < %(moment)s
      AND NOT EXISTS (SELECT 1 FROM ret_held h WHERE h.id = p.client_id)
      AND NOT EXISTS (SELECT 1 FROM payments_allocation a
                      WHERE a.payment_id = p.id AND NOT EXISTS (SELECT 1 FROM ret_invoices r WHERE r.id = a.invoice_id))""")

# A ledger entry stays while a payment that stays booked it or its reversal.
LEDGER_OF_KEPT_PAYMENTS = Step("""
    DELETE FROM ret_ledger e
    WHERE EXISTS (SELECT 1 FROM payments_payment p WHERE p.ledger_entry_id = e.id
                  AND NOT EXISTS (SELECT 1 FROM ret_payments r WHERE r.id = p.id))
       OR EXISTS (SELECT 1 FROM payments_payment p WHERE p.reversal_entry_id = e.id
                  AND NOT EXISTS (SELECT 1 FROM ret_payments r WHERE r.id = p.id))""")

ALLOCATIONS = Step(table="ret_allocations",
                   sql="SELECT a.id FROM payments_allocation a JOIN ret_invoices r ON r.id = a.invoice_id")

# Requests to pay made before the cutoff, unless the payment they led to stays.
REQUESTS = Step(table="ret_requests", sql="""
    SELECT q.id FROM payments_paymentrequest q WHERE q.created < %(moment)s
      AND (q.payment_id IS NULL OR EXISTS (SELECT 1 FROM ret_payments r WHERE r.id = q.payment_id))""")

# A closed client keeps its identity while a payment or request to pay of its stays.
CLOSED_WITH_RECORDS = Step("""
    DELETE FROM ret_closed c
    WHERE EXISTS (SELECT 1 FROM payments_payment p WHERE p.client_id = c.id
                  AND NOT EXISTS (SELECT 1 FROM ret_payments r WHERE r.id = p.id))
       OR EXISTS (SELECT 1 FROM payments_paymentrequest q WHERE q.client_id = c.id
                  AND NOT EXISTS (SELECT 1 FROM ret_requests r WHERE r.id = q.id))""")

# In dependency order, before billing deletes the invoices and ledger entries these refer to.
DELETE = [
    Step("UPDATE payments_paymentrequest SET payment_id = NULL WHERE payment_id IN (SELECT id FROM ret_payments)"
         " AND id NOT IN (SELECT id FROM ret_requests)"),
    Step("UPDATE payments_paymentrequest SET invoice_id = NULL WHERE invoice_id IN (SELECT id FROM ret_invoices)"
         " AND id NOT IN (SELECT id FROM ret_requests)"),
    Step("DELETE FROM payments_paymentrequest WHERE id IN (SELECT id FROM ret_requests)"),
    Step("DELETE FROM payments_allocation WHERE id IN (SELECT id FROM ret_allocations)"),
    Step("DELETE FROM payments_payment WHERE id IN (SELECT id FROM ret_payments)"),
]
