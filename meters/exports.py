"""The meter pages' downloads (?export=csv|xlsx): the columns, here so the views change by a line."""

from __future__ import annotations

from majismart.exports import Column, col, label
from meters.models import Meter, Reading

METER_COLUMNS = [
    col("Serial", "serial"), Column("Kind", lambda m: label(Meter.Kind.choices)(m.kind)), col("Zone (bulk meter)", "zone.name"),
    col("Account", "client.account_number"), col("Client", "client.full_name"),
    Column("Status", lambda m: label(Meter.Status.choices)(m.status)), col("Installed on", "installed_on", "date"),
    col("Initial reading (m³)", "initial_reading", "m3"), col("Dial capacity (m³)", "dial_capacity", "m3"),
    col("Final reading (m³)", "final_reading", "m3"), col("Removed on", "removed_on", "date"),
]
REVIEW_COLUMNS = [
    col("Read", "read_at", "datetime"), col("Meter", "meter.serial"), col("Account", "meter.client.account_number"),
    col("Client", "meter.client.full_name"), col("Reading (m³)", "value", "m3"),
    col("Consumption (m³)", "consumption", "m3"), Column("Source", lambda r: label(Reading.Source.choices)(r.source)),
    Column("Flags", lambda r: ", ".join(label(Reading.Flag.choices)(f) for f in (r.flags or []))),
    col("Recorded by", "recorded_by.full_name"),
]
