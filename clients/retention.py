"""Clients' part of the retention purge (privacy.retention.purge_billing)."""

from __future__ import annotations

from majismart.sql import Step

# Closed clients, in the temporary table ret_closed: the apps holding their records take out
# those with a record still in retention, and privacy pseudonymises the rest.
CLOSED = Step(table="ret_closed", sql="SELECT c.id FROM clients_client c WHERE c.status = 'closed'")
