"""Arrears' part of the retention purge (privacy.retention.purge_billing): payment plans ended and
disconnections finished before the cutoff (%(moment)s). Runs after fieldwork's ret_work_orders is
made: a disconnection that stays keeps its work orders (they are not deleted from under it)."""

from __future__ import annotations

from majismart.sql import Step

PLANS = Step(table="ret_plans", sql="""
    SELECT p.id FROM arrears_paymentplan p
     WHERE p.status IN ('completed', 'broken', 'declined') AND p.ended < %(moment)s""")

DISCONNECTIONS = [
    Step(table="ret_disconnections", sql="""
        SELECT d.id FROM arrears_disconnection d
         WHERE d.status IN ('cancelled', 'reconnected', 'not_done')
           AND coalesce(d.reconnected_at, d.created) < %(moment)s
           AND (d.disconnect_order_id IS NULL OR d.disconnect_order_id IN (SELECT id FROM ret_work_orders))
           AND (d.reconnect_order_id IS NULL OR d.reconnect_order_id IN (SELECT id FROM ret_work_orders))"""),
    # The work orders of a disconnection that stays stay too.
    Step("""DELETE FROM ret_work_orders w WHERE EXISTS (
              SELECT 1 FROM arrears_disconnection d
               WHERE (d.disconnect_order_id = w.id OR d.reconnect_order_id = w.id)
                 AND d.id NOT IN (SELECT id FROM ret_disconnections))"""),
]

# Before fieldwork's DELETE: a disconnection refers to its work orders.
DELETE = [
    Step("DELETE FROM arrears_instalment WHERE plan_id IN (SELECT id FROM ret_plans)"),
    Step("DELETE FROM arrears_paymentplan WHERE id IN (SELECT id FROM ret_plans)"),
    Step("DELETE FROM arrears_disconnection WHERE id IN (SELECT id FROM ret_disconnections)"),
]
