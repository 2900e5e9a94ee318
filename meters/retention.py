"""Meters' part of the retention purge (privacy.retention.purge_billing): the readings past
retention (%(moment)s: the cutoff's midnight), kept in the temporary table ret_readings."""

from __future__ import annotations

from django.db.backends.utils import CursorWrapper

from majismart.sql import Step

# Readings before the cutoff, except each meter's latest and latest accepted reading (the next
# bill starts from it).
READINGS = Step(table="ret_readings", sql="""
    SELECT m.id, m.photo FROM meters_reading m WHERE m.read_at < %(moment)s
      AND EXISTS (SELECT 1 FROM meters_reading l WHERE l.meter_id = m.meter_id AND l.read_at > m.read_at)
      AND (m.status <> 'accepted' OR EXISTS (
           SELECT 1 FROM meters_reading l WHERE l.meter_id = m.meter_id AND l.read_at > m.read_at
              AND l.status = 'accepted'))""")

DELETE = [Step("DELETE FROM meters_reading WHERE id IN (SELECT id FROM ret_readings)")]


def reading_files(cursor: CursorWrapper) -> list[str]:
    """The photos of the readings that go."""
    cursor.execute("SELECT photo FROM ret_readings WHERE photo IS NOT NULL AND photo <> ''")
    return [row[0] for row in cursor.fetchall()]
