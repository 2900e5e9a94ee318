"""Meters' tables as other apps' set-based statements read them (the billing run): each a SELECT
used as a subquery, `FROM ({METERS}) m`, which PostgreSQL pulls up into the statement, so it
plans as if it named the table. Which columns exist and which readings count stay here."""

from __future__ import annotations

from meters.models import Meter, Reading

# Client meters only: a bulk (zone) meter has no client and is never billed.
METERS = (f"SELECT id, client_id, serial, installed_on, removed_on, initial_reading FROM {Meter._meta.db_table} "  # noqa: S608 - our identifiers
          f"WHERE kind = '{Meter.Kind.CLIENT.value}'")
# Bulk (zone) meters: what went into each zone (non-revenue water).
BULK_METERS = (f"SELECT id, zone_id, serial, installed_on, removed_on, status FROM {Meter._meta.db_table} "  # noqa: S608 - our identifiers
               f"WHERE kind = '{Meter.Kind.BULK.value}'")
# Client meters in service (read on the rounds).
ACTIVE_METERS = f"{METERS} AND status = '{Meter.Status.ACTIVE.value}'"
_READINGS = f"SELECT id, meter_id, read_at, value, consumption FROM {Reading._meta.db_table}"  # noqa: S608 - our identifiers
# Readings a bill is worked out from.
ACCEPTED_READINGS = f"{_READINGS} WHERE status = '{Reading.Status.ACCEPTED.value}'"
# Readings waiting for review: billed once accepted.
FLAGGED_READINGS = f"{_READINGS} WHERE status = '{Reading.Status.FLAGGED.value}'"
