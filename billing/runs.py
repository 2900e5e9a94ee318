"""Billing runs: compute a period's invoices for every billable client in a few set-based
statements, preview them as a draft, and issue them as a whole.

How a client's volume is found. Each invoice records the readings it billed: those accepted
after `reading_from` up to its closing reading `reading_to`. The next invoice starts where the
last actual one closed, so a late reading is billed once, next time, and never lost. The volume
is the sum of the readings' own consumption (each is worked out against the accepted reading
before it on the same meter, across dial roll-overs and meter replacements), which equals the
latest accepted reading on or before the period's end less the one the window starts from.

A client with no accepted reading in the period is estimated: its average daily billed volume
over its last three billed periods (zero without history) times the period's days. The next
actual reading trues it up: the actual volume since the last actual reading less the volume
already billed on estimates; an over-estimate bills no volume and is credited at the average
water-and-sewerage price per m³ those estimates were billed at.

The tariff maths runs in SQL and matches `billing.tariffs.charge_for` line for line (tests
check both on the same volumes).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from accounts.services import actor_user, audit
from billing.models import BillingRun, BillingSettings
from billing.services import sequence_take
from clients.models import Client
from clients.sql import CATEGORIES, CLIENTS
from majismart.metrics import BILLING_RUN_SECONDS
from meters.models import Meter, Reading
from meters.sql import ACCEPTED_READINGS, FLAGGED_READINGS, METERS

NAIROBI = ZoneInfo("Africa/Nairobi")
PERIOD_RE = re.compile(r"^(\d{4})-(\d{2})$")
MSG_PERIOD_FORMAT = "Give the period as YYYY-MM, e.g. 2026-10."
MSG_PERIOD_FUTURE = "{period} has not started yet; a period can be billed from its first day."
MSG_PERIOD_CLOSED = "Billing is already finalised for {later}; an earlier period can no longer be billed."
MSG_EARLIER_DRAFT = "Finalise or discard the draft for {earlier} first: periods are issued in order."
MSG_NOT_DRAFT = "This run is finalised: its invoices are issued and can only be corrected by credit notes."
SKIP_REASONS = {
    "no_meter": "No meter",
    "no_meter_in_period": "No meter in service during the period",
    "no_tariff": "No tariff for the client's category in force on the period's last day",
}
# Serialises billing work within a provider: computing and finalising runs never interleave.
_BILLING_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':billing'))"


@dataclass(frozen=True)
class Period:
    code: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def lo(self) -> datetime:
        """The period's first moment (Nairobi midnight), as an aware time."""
        return datetime.combine(self.start, time(0), tzinfo=NAIROBI)

    @property
    def hi(self) -> datetime:
        """The first moment after the period."""
        return datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=NAIROBI)

    @property
    def label(self) -> str:
        return f"{calendar.month_name[self.start.month]} {self.start.year}"


def period_parse(raw: object) -> Period:
    match = PERIOD_RE.match(str(raw or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise ValidationError({"period": [MSG_PERIOD_FORMAT]})
    year, month = int(match.group(1)), int(match.group(2))
    start = date(year, month, 1)
    return Period(f"{year:04d}-{month:02d}", start, date(year, month, calendar.monthrange(year, month)[1]))


# --- the computation ------------------------------------------------------------------------
# One row per client: what it is billed on, its pending estimates and its history.
_CLIENTS_SQL = f"""
DROP TABLE IF EXISTS tmp_client;
CREATE TEMP TABLE tmp_client ON COMMIT DROP AS
WITH tariffs AS (
    SELECT DISTINCT ON (category_id) id, category_id FROM billing_tariff
    WHERE effective_from <= %(end)s ORDER BY category_id, effective_from DESC
)
SELECT c.id AS client_id, c.category_id, c.active, t.id AS tariff_id,
       -- Disconnected, billed its fixed charges every period (the provider's rule).
       (c.disconnected AND %(disconnected_fixed)s) AS standing,
       CASE WHEN NOT EXISTS (SELECT 1 FROM ({METERS}) m WHERE m.client_id = c.id) THEN 'no_meter'
            WHEN NOT EXISTS (SELECT 1 FROM ({METERS}) m WHERE m.client_id = c.id AND m.installed_on <= %(end)s
                             AND (m.removed_on IS NULL OR m.removed_on >= %(start)s)) THEN 'no_meter_in_period'
            WHEN t.id IS NULL THEN 'no_tariff' END AS skip,
       -- A meter never billed yet counts from the start of its client's first bill (or this period).
       coalesce(to_date(fi.period, 'YYYY-MM')::timestamp AT TIME ZONE 'Africa/Nairobi', %(lo)s) AS first_from,
       coalesce(pe.volume, 0) AS pending_volume, coalesce(pe.amount, 0) AS pending_amount,
       hi.volume AS history_volume, hi.days AS history_days
FROM ({CLIENTS}) c
LEFT JOIN tariffs t ON t.category_id = c.category_id
LEFT JOIN LATERAL (
    SELECT i.period FROM billing_invoice i WHERE i.client_id = c.id AND i.status = 'issued' AND i.period < %(period)s
      AND i.run_id IS NOT NULL
    ORDER BY i.period LIMIT 1
) fi ON true
LEFT JOIN LATERAL (
    SELECT i.period FROM billing_invoice i
    WHERE i.client_id = c.id AND i.status = 'issued' AND NOT i.estimated AND i.period < %(period)s
      AND i.run_id IS NOT NULL
    ORDER BY i.period DESC LIMIT 1
) la ON true
LEFT JOIN LATERAL (
    -- Volume billed on estimates since the last actual bill: what the next actual reading trues up.
    SELECT sum(i.consumption) AS volume, sum(i.volumetric) AS amount FROM billing_invoice i
    WHERE i.client_id = c.id AND i.status = 'issued' AND i.estimated AND i.period < %(period)s
      AND i.period > coalesce(la.period, '') AND i.run_id IS NOT NULL
) pe ON true
LEFT JOIN LATERAL (
    SELECT sum(h.consumption) AS volume,
           sum(extract(day FROM to_date(h.period, 'YYYY-MM') + interval '1 month - 1 day')) AS days
    FROM (SELECT i.consumption, i.period FROM billing_invoice i
          WHERE i.client_id = c.id AND i.status = 'issued' AND i.period < %(period)s AND i.run_id IS NOT NULL
          ORDER BY i.period DESC LIMIT 3) h
) hi ON true
"""  # noqa: S608 - our fragments; values are bound parameters

# One row per meter of a billable client: its unbilled accepted readings up to the period's end.
_METERS_SQL = f"""
DROP TABLE IF EXISTS tmp_meter;
CREATE TEMP TABLE tmp_meter ON COMMIT DROP AS
SELECT m.id AS meter_id, m.client_id, m.serial, coalesce(pos.to_at, b.first_from) AS from_at,
       coalesce(pos.current_reading, pv.value, m.initial_reading) AS previous_value,
       rd.volume, rd.last_at, rd.last_value, coalesce(rd.in_period, false) AS in_period
FROM tmp_client b
JOIN ({METERS}) m ON m.client_id = b.client_id
LEFT JOIN LATERAL (
    SELECT im.to_at, im.current_reading FROM billing_invoicemeter im JOIN billing_invoice i ON i.id = im.invoice_id
    WHERE im.meter_id = m.id AND i.status = 'issued' ORDER BY im.to_at DESC LIMIT 1
) pos ON true
LEFT JOIN LATERAL (
    SELECT r.value FROM ({ACCEPTED_READINGS}) r
    WHERE r.meter_id = m.id AND r.read_at < b.first_from
    ORDER BY r.read_at DESC LIMIT 1
) pv ON pos.to_at IS NULL
LEFT JOIN LATERAL (
    SELECT sum(r.consumption) AS volume, max(r.read_at) AS last_at,
           (array_agg(r.value ORDER BY r.read_at DESC))[1] AS last_value, bool_or(r.read_at >= %(lo)s) AS in_period
    FROM ({ACCEPTED_READINGS}) r
    WHERE r.meter_id = m.id AND r.read_at < %(hi)s
      AND (r.read_at > pos.to_at OR (pos.to_at IS NULL AND r.read_at >= b.first_from))
) rd ON true
WHERE b.skip IS NULL;
ANALYZE tmp_meter;
"""  # noqa: S608 - our fragments; values are bound parameters

# The client's volume: actual where a meter was read in the period (for a client no longer
# active: any unbilled reading, its final bill), less what estimates already billed; otherwise
# an estimate (active clients only).
_BILL_SQL = """
DROP TABLE IF EXISTS tmp_bill;
CREATE TEMP TABLE tmp_bill ON COMMIT DROP AS
SELECT b.client_id, b.category_id, b.tariff_id, b.pending_volume, b.pending_amount, b.skip,
       x.has_actual, a.actual, a.closing_meter, a.last_at AS closing_at, a.from_at,
       -- Billed only its fixed charges: disconnected, nothing read since (no estimate, no minimum).
       (b.standing AND NOT x.has_actual) AS standing_only,
       CASE WHEN x.has_actual THEN greatest(coalesce(a.actual, 0) - b.pending_volume, 0)
            WHEN NOT b.active THEN 0
            ELSE round(coalesce(b.history_volume / nullif(b.history_days, 0), 0) * %(days)s, 3) END::numeric(12,3)
           AS volume,
       CASE WHEN x.has_actual THEN greatest(b.pending_volume - coalesce(a.actual, 0), 0) ELSE 0 END::numeric(12,3)
           AS credit_volume,
       0::numeric(12,2) AS overdue
FROM tmp_client b
LEFT JOIN (
    SELECT tm.client_id, sum(tm.volume) AS actual, max(tm.last_at) AS last_at, min(tm.from_at) AS from_at,
           bool_or(tm.in_period) AS in_period,
           (array_agg(tm.meter_id ORDER BY tm.last_at DESC NULLS LAST))[1] AS closing_meter
    FROM tmp_meter tm GROUP BY tm.client_id
) a ON a.client_id = b.client_id
CROSS JOIN LATERAL (SELECT CASE WHEN b.active THEN coalesce(a.in_period, false)
                                ELSE a.last_at IS NOT NULL END AS has_actual) x
WHERE b.active OR a.last_at IS NOT NULL OR b.standing;
ANALYZE tmp_bill;
"""

# Overdue amounts, only when the provider charges a penalty: the balance less what is not yet
# overdue (payments settle the oldest debts first, so what remains unpaid is the newest). A fee
# or deposit on no bill yet is not overdue either: its first bill is this one.
_OVERDUE_SQL = """
UPDATE tmp_bill b SET overdue = greatest(x.balance - coalesce(x.not_due, 0) - coalesce(x.unbilled, 0), 0)
FROM (
    SELECT l.client_id, sum(l.amount) AS balance,
           (SELECT sum(greatest(i.total - coalesce((SELECT sum(cn.amount) FROM billing_creditnote cn
                                                    WHERE cn.invoice_id = i.id), 0), 0))
            FROM billing_invoice i WHERE i.client_id = l.client_id AND i.status = 'issued'
              AND i.due_date >= %(overdue_before)s) AS not_due,
           (SELECT sum(ch.amount) FROM billing_charge ch WHERE ch.client_id = l.client_id AND ch.invoice_id IS NULL
              AND NOT EXISTS (SELECT 1 FROM billing_ledgerentry r WHERE r.reverses_id = ch.ledger_entry_id)) AS unbilled
    FROM billing_ledgerentry l WHERE l.booked_on <= %(as_of)s GROUP BY l.client_id
) x
WHERE b.client_id = x.client_id AND b.skip IS NULL AND x.balance > 0
"""

_LINES_SQL = """
DROP TABLE IF EXISTS tmp_line;
CREATE TEMP TABLE tmp_line ON COMMIT DROP AS
WITH b AS (
    SELECT b.client_id, b.tariff_id, b.volume, b.credit_volume, b.pending_volume, b.pending_amount, b.overdue,
           b.standing_only, t.minimum_charge, t.sewerage_percent, t.fixed_charge, t.meter_rent
    FROM tmp_bill b JOIN billing_tariff t ON t.id = b.tariff_id WHERE b.skip IS NULL
), bands AS (
    SELECT tb.tariff_id, tb.position, tb.up_to, tb.price,
           coalesce(lag(tb.up_to) OVER (PARTITION BY tb.tariff_id ORDER BY tb.position), 0) AS lower
    FROM billing_tariffblock tb WHERE tb.tariff_id IN (SELECT DISTINCT tariff_id FROM b)
), water AS (
    SELECT b.client_id, bd.position, bd.lower, bd.up_to, bd.price,
           least(b.volume, coalesce(bd.up_to, b.volume)) - bd.lower AS used
    FROM b JOIN bands bd ON bd.tariff_id = b.tariff_id AND b.volume > bd.lower
), water_lines AS (
    SELECT w.client_id, w.position, 'water'::text AS kind,
           CASE WHEN w.up_to IS NULL THEN 'Water above ' || pg_temp.maji_num(w.lower) || ' m³'
                ELSE 'Water ' || pg_temp.maji_num(w.lower) || '–' || pg_temp.maji_num(w.up_to) || ' m³' END AS description,
           w.used AS quantity, w.price AS unit_price, round(w.used * w.price, 2) AS amount, NULL::bigint AS charge_id
    FROM water w
), water_total AS (
    SELECT b.*, coalesce(ws.water, 0) AS water
    FROM b LEFT JOIN (SELECT client_id, sum(amount) AS water FROM water_lines GROUP BY client_id) ws
        ON ws.client_id = b.client_id
), minimum AS (
    SELECT wt.client_id, 50 AS position, 'minimum'::text AS kind, 'Minimum charge top-up'::text AS description,
           1::numeric AS quantity, wt.minimum_charge - wt.water AS unit_price,
           round(wt.minimum_charge - wt.water, 2) AS amount, NULL::bigint AS charge_id
    FROM water_total wt WHERE wt.water < wt.minimum_charge AND NOT wt.standing_only
), sewerage AS (
    SELECT wt.client_id, 51 AS position, 'sewerage'::text AS kind,
           'Sewerage ' || pg_temp.maji_num(wt.sewerage_percent) || '%% of water charge' AS description,
           wt.sewerage_percent / 100 AS quantity, greatest(wt.water, wt.minimum_charge) AS unit_price,
           round(greatest(wt.water, wt.minimum_charge) * wt.sewerage_percent / 100, 2) AS amount,
           NULL::bigint AS charge_id
    FROM water_total wt WHERE wt.sewerage_percent > 0 AND NOT wt.standing_only
)
SELECT * FROM water_lines
UNION ALL SELECT * FROM minimum
UNION ALL SELECT * FROM sewerage
UNION ALL SELECT b.client_id, 52, 'fixed', 'Fixed charge', 1, b.fixed_charge, b.fixed_charge, NULL FROM b
          WHERE b.fixed_charge > 0
UNION ALL SELECT b.client_id, 53, 'meter_rent', 'Meter rent', 1, b.meter_rent, b.meter_rent, NULL FROM b
          WHERE b.meter_rent > 0
UNION ALL SELECT b.client_id, 60, 'estimate_credit',
                 'Estimate correction: ' || pg_temp.maji_num(b.credit_volume) || ' m³ estimated more than used',
                 b.credit_volume, round(b.pending_amount / b.pending_volume, 4),
                 -round(b.credit_volume * b.pending_amount / b.pending_volume, 2), NULL
          FROM b WHERE b.credit_volume > 0 AND b.pending_volume > 0 AND b.pending_amount > 0
UNION ALL SELECT b.client_id, 70, 'penalty',
                 'Late-payment penalty ' || pg_temp.maji_num(%(penalty_percent)s::numeric(5,2)) || '%% of KES '
                     || to_char(b.overdue, 'FM999,999,999,990.00') || ' overdue',
                 %(penalty_percent)s::numeric / 100, b.overdue, round(b.overdue * %(penalty_percent)s::numeric / 100, 2),
                 NULL
          FROM b WHERE b.overdue > 0 AND %(penalty_percent)s::numeric > 0
-- Fees and deposits charged since the last bill and not reversed, each its own line (their
-- ledger entries were posted when charged: the bill's ledger entry leaves them out).
UNION ALL SELECT ch.client_id, 100 + row_number() OVER (PARTITION BY ch.client_id ORDER BY ch.id), ch.kind,
                 ch.description, 1, ch.amount, ch.amount, ch.id
          FROM billing_charge ch JOIN b ON b.client_id = ch.client_id
          WHERE ch.invoice_id IS NULL
            AND NOT EXISTS (SELECT 1 FROM billing_ledgerentry r WHERE r.reverses_id = ch.ledger_entry_id)
"""

# A number as charge_for writes it: whole numbers without decimals, others as stored.
_NUM_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION pg_temp.maji_num(v numeric) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN v = trunc(v) THEN trunc(v)::text ELSE v::text END $$;
"""

_INVOICES_SQL = """
INSERT INTO billing_invoice (run_id, client_id, category_id, tariff_id, period, status, consumption, estimated,
                             volumetric, total, reading_from, reading_to, meter_serial, previous_reading,
                             current_reading, created)
SELECT %(run)s, b.client_id, b.category_id, b.tariff_id, %(period)s, 'draft', b.volume,
       NOT b.has_actual AND NOT b.standing_only,
       coalesce(l.water, 0) + coalesce(l.sewerage, 0), coalesce(l.total, 0),
       b.from_at, CASE WHEN b.has_actual THEN b.closing_at END, coalesce(tm.serial, ''),
       CASE WHEN b.has_actual THEN tm.previous_value END, CASE WHEN b.has_actual THEN tm.last_value END, %(now)s
FROM tmp_bill b
LEFT JOIN (SELECT client_id, sum(amount) AS total, sum(amount) FILTER (WHERE kind = 'water') AS water,
                  sum(amount) FILTER (WHERE kind = 'sewerage') AS sewerage
           FROM tmp_line GROUP BY client_id) l ON l.client_id = b.client_id
LEFT JOIN tmp_meter tm ON tm.meter_id = b.closing_meter
WHERE b.skip IS NULL
"""

# Which readings each actual bill took, per meter: where each meter's next bill starts.
_INVOICE_METERS_SQL = """
INSERT INTO billing_invoicemeter (invoice_id, meter_id, serial, from_at, to_at, previous_reading, current_reading,
                                  consumption)
SELECT i.id, tm.meter_id, tm.serial, tm.from_at, tm.last_at, tm.previous_value, tm.last_value, coalesce(tm.volume, 0)
FROM tmp_meter tm
JOIN tmp_bill b ON b.client_id = tm.client_id AND b.skip IS NULL AND b.has_actual
JOIN billing_invoice i ON i.run_id = %(run)s AND i.client_id = tm.client_id
WHERE tm.last_at IS NOT NULL
"""

_INVOICE_LINES_SQL = """
INSERT INTO billing_invoiceline (invoice_id, position, kind, description, quantity, unit_price, amount, charge_id)
SELECT i.id, l.position, l.kind, l.description, l.quantity, l.unit_price, l.amount, l.charge_id
FROM tmp_line l JOIN billing_invoice i ON i.run_id = %(run)s AND i.client_id = l.client_id
"""

_SUMMARY_SQL = f"""
-- One pass over each temporary table.
SELECT b.billed, b.estimated, b.trued_up, l.penalties, l.penalty_total, l.credit_total, l.total, b.volume,
       (SELECT count(*) FROM ({CLIENTS}) c WHERE NOT c.active), b.zero, b.final_bills
FROM (
    SELECT count(*) AS billed, count(*) FILTER (WHERE NOT has_actual) AS estimated,
           count(*) FILTER (WHERE credit_volume > 0) AS trued_up, coalesce(sum(volume), 0) AS volume,
           count(*) FILTER (WHERE volume = 0 AND has_actual) AS zero,
           count(*) FILTER (WHERE NOT c.active) AS final_bills
    FROM tmp_bill JOIN tmp_client c USING (client_id) WHERE tmp_bill.skip IS NULL
) b, (
    SELECT count(*) FILTER (WHERE kind = 'penalty') AS penalties,
           coalesce(sum(amount) FILTER (WHERE kind = 'penalty'), 0) AS penalty_total,
           coalesce(sum(amount) FILTER (WHERE kind = 'estimate_credit'), 0) AS credit_total,
           coalesce(sum(amount), 0) AS total
    FROM tmp_line
) l
"""  # noqa: S608 - our fragments


def _summary(cursor: CursorWrapper, run_period: Period, today: date) -> dict[str, Any]:  # the run's JSON summary
    cursor.execute(_SUMMARY_SQL)
    (billed, estimated, trued_up, penalties, penalty_total, credit_total, total, volume, inactive,
     zero, final_bills) = cursor.fetchone()
    cursor.execute(
        "SELECT b.skip, count(*), (array_agg(c.id ORDER BY c.account_number))[1:20], "  # noqa: S608 - our fragment
        "(array_agg(c.account_number ORDER BY c.account_number))[1:20] "
        f"FROM tmp_bill b JOIN ({CLIENTS}) c ON c.id = b.client_id WHERE b.skip IS NOT NULL "
        "GROUP BY b.skip ORDER BY b.skip")
    # Account numbers only: names are encrypted at rest and never copied into a run's summary
    # (the run page looks them up: billing.selectors.run_skipped).
    skipped = [{"reason": reason, "label": SKIP_REASONS[reason], "count": n,
                "clients": [{"id": i, "account": account} for i, account in zip(ids, accounts, strict=True)]}
               for reason, n, ids, accounts in cursor.fetchall()]
    cursor.execute(
        "SELECT c.name, c.code, count(*), sum(b.volume), sum(coalesce(l.total, 0)) "  # noqa: S608 - our fragment
        f"FROM tmp_bill b JOIN ({CATEGORIES}) c ON c.id = b.category_id "
        "LEFT JOIN (SELECT client_id, sum(amount) AS total FROM tmp_line GROUP BY client_id) l "
        "ON l.client_id = b.client_id WHERE b.skip IS NULL GROUP BY c.name, c.code ORDER BY c.name")
    categories = [{"category": code, "name": name, "invoices": n, "consumption": f"{vol:.3f}", "total": f"{tot:.2f}"}
                  for name, code, n, vol, tot in cursor.fetchall()]
    # Flagged readings the run could have billed: waiting for review, so not billed yet.
    cursor.execute(
        f"SELECT count(*), count(DISTINCT b.client_id) FROM ({FLAGGED_READINGS}) r "  # noqa: S608 - our fragments
        f"JOIN ({METERS}) m ON m.id = r.meter_id JOIN tmp_bill b ON b.client_id = m.client_id "
        "JOIN tmp_meter tm ON tm.meter_id = m.id "
        "WHERE r.read_at < %s AND r.read_at >= tm.from_at AND b.skip IS NULL",
        [run_period.hi])
    flagged, flagged_clients = cursor.fetchone()
    warnings = []
    if flagged:
        warnings.append(f"{flagged} flagged reading{'s' if flagged != 1 else ''} of {flagged_clients} "
                        f"client{'s' if flagged_clients != 1 else ''} wait for review; they are billed once accepted "
                        "(review them first, then recompute).")
    if estimated:
        warnings.append(f"{estimated} client{'s' if estimated != 1 else ''} had no accepted reading in the period "
                        "and will be billed an estimate.")
    for s in skipped:
        warnings.append(f"{s['count']} active client{'s' if s['count'] != 1 else ''} skipped: {s['label'].lower()}.")
    if final_bills:
        warnings.append(f"{final_bills} disconnected or closed client{'s' if final_bills != 1 else ''} "
                        "get a final bill for readings taken before they left.")
    if run_period.end >= today:
        warnings.append("The period has not ended yet: readings taken after today are billed next period.")
    return {
        "billed": billed, "estimated": estimated, "actual": billed - estimated, "trued_up": trued_up,
        "zero_consumption": zero, "penalties": penalties, "penalty_total": f"{penalty_total:.2f}",
        "estimate_credit_total": f"{credit_total:.2f}", "consumption": f"{volume:.3f}", "total": f"{total:.2f}",
        "skipped": skipped, "skipped_count": sum(s["count"] for s in skipped), "not_active": inactive,
        "final_bills": final_bills,
        "flagged_readings": flagged, "flagged_clients": flagged_clients, "categories": categories,
        "warnings": warnings,
    }


def _drafts_delete(cursor, run_id: int) -> None:  # type: ignore[no-untyped-def]
    """Remove a run's draft invoices with their lines and meter rows (issued ones stay)."""
    for table in ("billing_invoiceline", "billing_invoicemeter"):
        cursor.execute(f"DELETE FROM {table} WHERE invoice_id IN "  # noqa: S608 - fixed table names
                       "(SELECT id FROM billing_invoice WHERE run_id = %s AND status = 'draft')", [run_id])
    cursor.execute("DELETE FROM billing_invoice WHERE run_id = %s AND status = 'draft'", [run_id])


def _now(at: datetime | None) -> datetime:
    """The moment a billing step happens: now, or `at` for a step replayed at a given time
    (seed_demo simulates its year month by month; the dashboard and API never pass it)."""
    return at if at is not None else timezone.now()


def _compute(run: BillingRun, at: datetime | None = None) -> None:
    """(Re)build the draft invoices of `run`. Runs inside the caller's transaction.

    Overdue invoices are judged on the day of the run, or at the period's end for a run made
    later (each period's penalty looks at that period: catch-up runs do not all charge today's
    arrears)."""
    period = period_parse(run.period)
    now = _now(at)
    as_of = min(timezone.localdate(now), period.end)
    rules = BillingSettings.load()
    params: dict[str, Any] = {"period": period.code, "start": period.start, "end": period.end, "lo": period.lo, "hi": period.hi,
              "days": period.days, "as_of": as_of, "overdue_before": as_of - timedelta(days=rules.penalty_grace_days),
              "penalty_percent": rules.penalty_percent, "run": run.pk, "now": now,
              "disconnected_fixed": rules.disconnected_fixed_charges}
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        # Per-client grouping of 100,000 clients and the ledger's sort stay in memory.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(_NUM_FUNCTION_SQL)
        _drafts_delete(cursor, run.pk)
        # What this computation can see: rows committed later (or by transactions still open
        # now) are changes that finalising must take into account.
        # A current snapshot counts this very transaction as still running; what it wrote
        # before is part of the computation, so it is marked visible: the snapshot's horizon
        # moves past it and the transactions in between, still running, are listed instead.
        cursor.execute(_SNAPSHOT_SQL)
        snapshot = cursor.fetchone()[0]
        cursor.execute(_CLIENTS_SQL, params)
        cursor.execute("ANALYZE tmp_client")
        cursor.execute(_METERS_SQL, params)
        cursor.execute(_BILL_SQL, params)
        if rules.penalty_percent > 0:
            cursor.execute(_OVERDUE_SQL, params)
        cursor.execute(_LINES_SQL, params)
        cursor.execute("ANALYZE tmp_line")
        cursor.execute(_INVOICES_SQL, params)
        invoice_count = cursor.rowcount
        cursor.execute(_INVOICE_LINES_SQL, params)
        cursor.execute(_INVOICE_METERS_SQL, params)
        summary = _summary(cursor, period, timezone.localdate(now))
        cursor.execute("DROP TABLE tmp_client, tmp_meter, tmp_bill, tmp_line")
    run.as_of = as_of
    run.summary = {**summary, "snapshot": snapshot}
    run.invoice_count = invoice_count
    run.total = Decimal(summary["total"])
    run.computed_at = now
    run.save(update_fields=["as_of", "summary", "invoice_count", "total", "computed_at"])


def _lock() -> None:
    with connection.cursor() as cursor:
        cursor.execute(_BILLING_LOCK_SQL)


def _latest_finalized_after(period: Period) -> str | None:
    return (BillingRun.objects.filter(status=BillingRun.Status.FINALIZED, period__gt=period.code)
            .order_by("-period").values_list("period", flat=True).first())


def billing_run_start(*, period: object, actor: object = None, at: datetime | None = None) -> tuple[BillingRun, bool]:
    """The run for `period`: created and computed as a draft, or the existing one (never a
    second). Returns (run, created). `at`: the moment it happens (default now)."""
    started = perf_counter()
    parsed = period_parse(period)
    today = timezone.localdate(_now(at))
    if parsed.start > today:
        raise ValidationError({"period": [MSG_PERIOD_FUTURE.format(period=parsed.code)]})
    existing = BillingRun.objects.filter(period=parsed.code).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            _lock()
            existing = BillingRun.objects.filter(period=parsed.code).first()
            if existing is not None:
                return existing, False
            later = _latest_finalized_after(parsed)
            if later:
                raise ValidationError({"period": [MSG_PERIOD_CLOSED.format(later=later)]})
            run = BillingRun.objects.create(period=parsed.code, as_of=today, computed_at=_now(at),
                                            created_by=actor_user(actor))
            _compute(run, at)
            audit(actor=actor, action="billing_run.created", object_repr=str(run), invoices=run.invoice_count,
                  total=str(run.total))
    except IntegrityError:
        # Another request created the same period between our check and insert.
        return BillingRun.objects.get(period=parsed.code), False
    BILLING_RUN_SECONDS.labels("start").observe(perf_counter() - started)
    return run, True


@transaction.atomic
def billing_run_recompute(*, run: BillingRun, actor: object = None) -> BillingRun:
    started = perf_counter()
    _lock()
    run = BillingRun.objects.select_for_update().get(pk=run.pk)
    if run.status != BillingRun.Status.DRAFT:
        raise ValidationError({"detail": [MSG_NOT_DRAFT]})
    later = _latest_finalized_after(period_parse(run.period))
    if later:
        raise ValidationError({"detail": [MSG_PERIOD_CLOSED.format(later=later)]})
    _compute(run)
    audit(actor=actor, action="billing_run.recomputed", object_repr=str(run), invoices=run.invoice_count,
          total=str(run.total))
    BILLING_RUN_SECONDS.labels("recompute").observe(perf_counter() - started)
    return run


_SNAPSHOT_SQL = """
SELECT pg_snapshot_xmin(s)::text || ':' || greatest(pg_snapshot_xmax(s)::text::bigint, me + 1)::text || ':' ||
       coalesce((SELECT string_agg(x::text, ',' ORDER BY x) FROM (
           SELECT x::text::bigint AS x FROM pg_snapshot_xip(s) x WHERE x::text::bigint <> me
             -- A transaction of another database writes no row here: not a change to wait for.
             AND xid(x) NOT IN (SELECT backend_xid FROM pg_stat_activity
                                WHERE datname IS DISTINCT FROM current_database() AND backend_xid IS NOT NULL)
           UNION SELECT g FROM generate_series(pg_snapshot_xmax(s)::text::bigint, me - 1) g) q), '')
FROM pg_current_snapshot() s, (SELECT pg_current_xact_id()::text::bigint AS me) m
"""

# Rows written since a snapshot: a row's full transaction id is recovered from its 32-bit xmin
# by its age, then tested against the snapshot (committed after it, or open when it was taken).
_CHANGED_TABLES = {
    Reading._meta.db_table: "", Meter._meta.db_table: "", Client._meta.db_table: "", "billing_ledgerentry": "",
    "billing_creditnote": "", "billing_charge": "", "billing_tariff": "", "billing_tariffblock": "", "billing_billingsettings": "",
    # other runs' invoices (issued since), not this run's own drafts
    "billing_invoice": "AND run_id <> %(run)s",
    "billing_invoicemeter": "AND invoice_id NOT IN (SELECT id FROM billing_invoice WHERE run_id = %(run)s)",
}
# A snapshot lists only top-level transactions; a row written in a savepoint carries its
# subtransaction's id, which is higher than its transaction's. So a row whose id is above that of
# a transaction still open at the snapshot may belong to it (a write we must not miss): counted
# as changed too. At worst that recomputes once more than needed; it never issues stale bills.
# Transactions of other databases on the same server (still running when the draft was computed)
# are left out of the snapshot's list: they cannot have written these tables.
_CHANGED_SQL = "SELECT " + " OR ".join(  # noqa: S608 - our table names
    f"EXISTS (SELECT 1 FROM {t}, LATERAL (SELECT ((%(now)s)::bigint - age(xmin))::text::xid8 AS x) r "  # noqa: S608
    f"WHERE (NOT pg_visible_in_snapshot(r.x, %(snapshot)s::pg_snapshot) "
    f"OR r.x > (SELECT min(p) FROM pg_snapshot_xip(%(snapshot)s::pg_snapshot) p)) {extra})"  # noqa: S608 - our table names
    for t, extra in _CHANGED_TABLES.items())


def run_changed_since_computed(run: BillingRun) -> bool:
    """Whether anything a draft was computed from changed after it was computed: new or
    reviewed readings, payments and other ledger entries, clients, meters, tariffs, credit
    notes, rules, other runs' invoices; also writes that were still uncommitted then."""
    snapshot = run.summary.get("snapshot")
    if not snapshot:
        return True
    # One transaction with its own id: a row's age is counted from it.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        now = cursor.fetchone()[0]
        cursor.execute(_CHANGED_SQL, {"now": now, "snapshot": snapshot, "run": run.pk})
        return cursor.fetchone()[0]


_ISSUE_SQL = f"""
UPDATE billing_invoice i SET status = 'issued', issued_on = %(issued)s, due_date = %(due)s,
       number = %(prefix)s || lpad((%(first)s + x.rn - 1)::text, greatest(6, length((%(first)s + x.rn - 1)::text)), '0')
FROM (SELECT i2.id, row_number() OVER (ORDER BY c.account_number, i2.id) AS rn
      FROM billing_invoice i2 JOIN ({CLIENTS}) c ON c.id = i2.client_id WHERE i2.run_id = %(run)s) x
WHERE i.id = x.id AND i.status = 'draft'
"""  # noqa: S608 - our fragment; values are bound parameters

# The ledger: the charges, the penalty and an estimate correction as entries of their own kinds.
# Fee and deposit lines are left out: each charge was posted to the ledger when it was made.
_LEDGER_SQL = """
INSERT INTO billing_ledgerentry (client_id, kind, amount, booked_on, reference, description, invoice_id,
                                 created_by_id, created)
SELECT i.client_id,
       CASE l.kind WHEN 'penalty' THEN 'penalty' WHEN 'estimate_credit' THEN 'adjustment' ELSE 'invoice' END,
       sum(l.amount), %(issued)s, i.number,
       CASE l.kind WHEN 'penalty' THEN 'Late-payment penalty' WHEN 'estimate_credit' THEN 'Estimate correction'
            ELSE 'Water bill ' || %(label)s END,
       i.id, %(user)s, %(now)s
FROM billing_invoice i JOIN billing_invoiceline l ON l.invoice_id = i.id
WHERE i.run_id = %(run)s AND l.charge_id IS NULL
GROUP BY i.id, i.client_id, i.number,
         CASE l.kind WHEN 'penalty' THEN 'penalty' WHEN 'estimate_credit' THEN 'adjustment' ELSE 'invoice' END,
         CASE l.kind WHEN 'penalty' THEN 'Late-payment penalty' WHEN 'estimate_credit' THEN 'Estimate correction'
              ELSE 'Water bill ' || %(label)s END
HAVING sum(l.amount) <> 0
"""


# Each charge billed by the run points at its bill (it is on no later one).
_CHARGES_BILLED_SQL = """
UPDATE billing_charge c SET invoice_id = l.invoice_id
FROM billing_invoiceline l JOIN billing_invoice i ON i.id = l.invoice_id
WHERE i.run_id = %(run)s AND l.charge_id = c.id AND c.invoice_id IS NULL
"""


@transaction.atomic
def billing_run_discard(*, run: BillingRun, actor: object = None) -> None:
    """Throw away a draft run and its draft invoices (nothing was issued from it)."""
    _lock()
    run = BillingRun.objects.select_for_update().get(pk=run.pk)
    if run.status != BillingRun.Status.DRAFT:
        raise ValidationError({"detail": [MSG_NOT_DRAFT]})
    with connection.cursor() as cursor:
        _drafts_delete(cursor, run.pk)
    audit(actor=actor, action="billing_run.discarded", object_repr=str(run), invoices=run.invoice_count,
          total=str(run.total))
    run.delete()


def billing_run_finalize(*, run: BillingRun, actor: object = None, at: datetime | None = None) -> BillingRun:
    """Issue the run's invoices as a whole, in one transaction: the draft is recomputed if
    anything changed since it was computed, then numbers, due dates and ledger entries are
    written. Finalising again (or twice at once)
    returns the run as it is; the PDFs and notifications are queued once the transaction has
    committed. Periods are issued in order: not while an earlier period's draft is open.
    `at`: the moment it happens (default now): the issue day, due dates and numbering year."""
    from billing.signals import run_finalized_queue

    started = perf_counter()
    with transaction.atomic():
        _lock()
        run = BillingRun.objects.select_for_update().get(pk=run.pk)
        if run.status == BillingRun.Status.FINALIZED:
            return run
        period = period_parse(run.period)
        later = _latest_finalized_after(period)
        if later:
            raise ValidationError({"detail": [MSG_PERIOD_CLOSED.format(later=later)]})
        earlier = (BillingRun.objects.filter(status=BillingRun.Status.DRAFT, period__lt=period.code)
                   .order_by("period").values_list("period", flat=True).first())
        if earlier:
            raise ValidationError({"detail": [MSG_EARLIER_DRAFT.format(earlier=earlier)]})
        now = _now(at)
        today = timezone.localdate(now)
        preview = (run.invoice_count, run.total)
        # Issue what the data says now: readings, reviews or payments that arrived since the
        # preview (even in transactions still open while it was computed) mean computing again.
        recomputed = run.as_of != min(today, period.end) or run_changed_since_computed(run)
        if recomputed:
            _compute(run, at)
        rules = BillingSettings.load()
        count = run.invoice_count
        params: dict[str, Any] = {"run": run.pk, "issued": today, "due": today + timedelta(days=rules.due_days),
                  "prefix": f"INV-{today.year}-", "first": 1, "user": getattr(actor, "pk", None), "now": now,
                  "label": period.label}
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '64MB'")
            if count:
                params["first"] = sequence_take(f"INV-{today.year}", count)
                cursor.execute(_ISSUE_SQL, params)
                cursor.execute(_LEDGER_SQL, params)
                cursor.execute(_CHARGES_BILLED_SQL, params)
        run.status = BillingRun.Status.FINALIZED
        run.finalized_at = now
        run.finalized_by = actor_user(actor)
        run.summary = {**run.summary, "recomputed_at_finalize": recomputed,
                       "preview_invoices": preview[0], "preview_total": f"{preview[1]:.2f}",
                       "changed_since_preview": preview != (run.invoice_count, run.total),
                       "first_number": f"INV-{today.year}-{params['first']:06d}" if count else None,
                       "last_number": f"INV-{today.year}-{params['first'] + count - 1:06d}" if count else None}
        run.save(update_fields=["status", "finalized_at", "finalized_by", "summary"])
        audit(actor=actor, action="billing_run.finalized", object_repr=str(run), invoices=count, total=str(run.total))
        transaction.on_commit(lambda: run_finalized_queue(run.pk))
    BILLING_RUN_SECONDS.labels("finalize").observe(perf_counter() - started)
    return run
