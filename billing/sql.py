"""Billing's tables as other apps' set-based statements read them (the reports' figures): each a
SELECT used as a subquery. What a balance is and which bill is unpaid stay here."""

from __future__ import annotations

from billing.models import CreditNote, Invoice, LedgerEntry

# Every client owing something: its balance (the sum of its ledger entries, when above 0) and
# the due date of its oldest unpaid bill. Payments and credits settle the oldest bills first (as
# billing.selectors.invoices_with_dues and arrears.selectors.oldest_unpaid_due say): an issued
# bill (after its credit notes) is unpaid while the balance is more than what the bills newer
# than it (by due date, then id) come to. `oldest_due` is null when none is: what is owed is a
# charge or an opening balance not on a bill yet.
CLIENT_POSITIONS = f"""
    WITH bal AS (SELECT client_id, sum(amount) AS balance FROM {LedgerEntry._meta.db_table}
                 GROUP BY client_id HAVING sum(amount) > 0),
    credited AS (SELECT invoice_id, sum(amount) AS amount FROM {CreditNote._meta.db_table} GROUP BY invoice_id),
    bills AS (SELECT i.client_id, i.id, i.due_date, bal.balance,
                     greatest(i.total - coalesce(cr.amount, 0), 0) AS net
              FROM {Invoice._meta.db_table} i JOIN bal ON bal.client_id = i.client_id
              LEFT JOIN credited cr ON cr.invoice_id = i.id
              WHERE i.status = '{Invoice.Status.ISSUED.value}' AND i.due_date IS NOT NULL),
    newer AS (SELECT client_id, due_date, net, balance,
                     coalesce(sum(net) OVER (PARTITION BY client_id ORDER BY due_date DESC, id DESC
                                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS newer
              FROM bills),
    unpaid AS (SELECT client_id, min(due_date) AS oldest_due FROM newer
               WHERE net > 0 AND newer < balance GROUP BY client_id)
    SELECT bal.client_id, bal.balance, unpaid.oldest_due
    FROM bal LEFT JOIN unpaid ON unpaid.client_id = bal.client_id"""  # noqa: S608 - our identifiers
