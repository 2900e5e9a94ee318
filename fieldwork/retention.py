"""Field work's part of the retention purge (privacy.retention.purge_billing): work orders
finished before the cutoff (%(moment)s) and closed service requests made before it, with their
history and photos. Runs after meters' ret_readings is made: a kept order lets go of a reading
that goes."""

from __future__ import annotations

from django.db.backends.utils import CursorWrapper

from majismart.sql import Step

WORK_ORDERS = Step(table="ret_work_orders", sql="""
    SELECT w.id, w.photo FROM fieldwork_workorder w
     WHERE w.status <> 'open' AND w.done_at < %(moment)s""")

REQUESTS = Step(table="ret_service_requests", sql="""
    SELECT r.id, r.photo FROM fieldwork_servicerequest r
     WHERE r.status IN ('resolved', 'cancelled') AND r.created < %(moment)s
       AND NOT EXISTS (SELECT 1 FROM fieldwork_workorder w WHERE w.service_request_id = r.id
                          AND w.id NOT IN (SELECT id FROM ret_work_orders))""")

DELETE = [
    Step("UPDATE fieldwork_workorder SET reading_id = NULL WHERE reading_id IN (SELECT id FROM ret_readings)"),
    Step("DELETE FROM fieldwork_workorder WHERE id IN (SELECT id FROM ret_work_orders)"),
    Step("DELETE FROM fieldwork_servicerequestevent WHERE request_id IN (SELECT id FROM ret_service_requests)"),
    Step("DELETE FROM fieldwork_servicerequest WHERE id IN (SELECT id FROM ret_service_requests)"),
]


def photo_files(cursor: CursorWrapper) -> list[str]:
    """The photos of the work orders and requests that go."""
    cursor.execute("SELECT photo FROM ret_work_orders WHERE photo IS NOT NULL AND photo <> '' "
                   "UNION ALL SELECT photo FROM ret_service_requests WHERE photo IS NOT NULL AND photo <> ''")
    return [row[0] for row in cursor.fetchall()]
