"""Clients' tables as other apps' set-based statements read them (the billing run): each a SELECT
used as a subquery, `FROM ({CLIENTS}) c`, which PostgreSQL pulls up into the statement, so it
plans as if it named the table. Which columns exist and what "active" means stay here."""

from __future__ import annotations

from clients.models import Category, Client

# Every client: `active` is whether it is billed as a connected account this period.
# `disconnected`: its supply cut off, the account still open (billed its fixed charges when the
# provider says so).
CLIENTS = (f"SELECT id, account_number, category_id, zone_id, status, status = '{Client.Status.ACTIVE.value}' AS active, "  # noqa: S608 - our identifiers
           f"status = '{Client.Status.DISCONNECTED.value}' AS disconnected "
           f"FROM {Client._meta.db_table}")
CATEGORIES = f"SELECT id, code, name FROM {Category._meta.db_table}"  # noqa: S608 - our identifiers
