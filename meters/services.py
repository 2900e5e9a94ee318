"""Writes for meters and readings.

Every way a reading arrives (entry sheet, CSV, API, portal) goes through `readings_record`,
which works on a whole batch in a few statements: the parsed rows are copied into a temporary
table, one query fetches for every row its meter, the reading at the same time, the next one,
the last three accepted ones and the meter's recent history; the verdicts are worked out in
Python from that one result; the accepted and flagged rows are written with COPY. The meters of
the accepted ones are then judged for leaks, once per batch (meters/alerts.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from accounts.services import actor_user, audit
from clients.models import Client, Zone
from meters.alerts import leak_detect
from meters.models import Meter, Reading
from meters.validation import (
    DATETIME_SHAPES,
    FUTURE_TOLERANCE,
    MAX_OFFSET_HOURS,
    MSG_ABOVE_LATER,
    MSG_BEFORE_INSTALL,
    MSG_BELOW_PREVIOUS,
    MSG_CONFLICT,
    MSG_INACTIVE_METER,
    MSG_UNKNOWN_METER,
    THOUSANDS_RE,
    VALUE_RE,
    has_nul,
    local_day,
    parse_reading,
    time_text,
    value_text,
)

HISTORY_DAYS = 180
HIGH_FACTOR = Decimal("3")
ZERO = Decimal("0.000")
MSG_UNREADABLE = gettext_noop("This row could not be read.")
MSG_SERIAL_TAKEN = "A meter with serial {serial} already exists."
MSG_INITIAL_RANGE = "The initial reading must be between 0 and the dial's capacity."
MSG_INSTALLED_FUTURE = "The installation date cannot be in the future."
MSG_CLIENT_REQUIRED = "A client meter needs its client."
MSG_ZONE_REQUIRED = "A bulk meter needs the zone it measures."
MSG_BULK_NO_CLIENT = "A bulk meter measures a zone: it has no client."
MSG_CLIENT_NO_ZONE = "A client meter is in its client's zone: give no zone."
# Serialises reading batches within a provider: two batches for the same meter and time must
# not both pass the "no reading at this time yet" check and then collide on insert.
_READINGS_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':readings'))"


@dataclass
class RecordedReading:
    index: int
    id: int
    consumption: Decimal | None
    status: str
    flags: list[str]
    repeat: bool = False


@dataclass
class RecordResult:
    created: list[RecordedReading] = field(default_factory=list)
    repeats: list[RecordedReading] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    created_count: int = 0
    flagged_count: int = 0
    repeat_count: int = 0
    error_count: int = 0


def consumption_of(value: Decimal, previous: Decimal, reason: str, wrap: Decimal) -> Decimal:
    if value >= previous:
        return value - previous
    if reason == "rollover":
        return value + wrap - previous
    return value  # replacement: the register started again from zero


# --- the batch pipeline ---------------------------------------------------------------------
# tmp_raw holds the rows as text, as they arrived; tmp_eval the parsed values (NULL where a
# value does not parse); tmp_verdict each row's verdict against the stored readings.
_TABLES_SQL = """
CREATE TEMP TABLE IF NOT EXISTS tmp_raw (idx bigint, serial text, value_raw text, read_at_raw text,
    reason_raw text, note_raw text) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS tmp_eval (idx bigint, serial text, value numeric(12,3), read_at timestamptz,
    reason text, note text, rnk int, ok boolean) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS tmp_verdict (idx bigint, meter_id bigint, value numeric(12,3),
    read_at timestamptz, reason text, note text, code text, consumption numeric(12,3), flags varchar(20)[],
    previous numeric(12,3), previous_at timestamptz, next_value numeric(12,3), next_at timestamptz,
    same_id bigint, same_value numeric(12,3), installed_on date, meter_status text) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS tmp_accepted (meter_id bigint, read_at timestamptz) ON COMMIT DROP;
TRUNCATE tmp_raw, tmp_eval, tmp_verdict, tmp_accepted;
"""

# Parsing in SQL with the same patterns as meters/validation.py. CASE evaluates its branches
# in order, so no cast ever sees text that would make it raise.
_PARSE_SQL = """
INSERT INTO tmp_eval (idx, serial, value, read_at, reason, note, rnk, ok)
SELECT p.idx, p.serial, p.value, p.read_at, p.reason, p.note, 1,
       p.serial <> '' AND p.value IS NOT NULL AND p.read_at IS NOT NULL AND p.read_at <= %(latest)s
           AND p.reason IN ('', 'rollover', 'replacement')
FROM (
    SELECT x.idx, upper(btrim(coalesce(x.serial, ''))) AS serial,
           lower(btrim(coalesce(x.reason_raw, ''))) AS reason, left(coalesce(x.note_raw, ''), 300) AS note,
           CASE WHEN x.v ~ %(value_re)s THEN x.v::numeric(12,3) END AS value,
           CASE WHEN NOT (x.shape = ANY(%(datetime_shapes)s)) THEN NULL
                WHEN substr(x.t, 1, 4)::int < 1900 OR substr(x.t, 6, 2)::int NOT BETWEEN 1 AND 12
                     OR substr(x.t, 9, 2)::int < 1 THEN NULL
                WHEN substr(x.t, 9, 2)::int > extract(day FROM make_date(substr(x.t, 1, 4)::int,
                     substr(x.t, 6, 2)::int, 1) + interval '1 month - 1 day') THEN NULL
                WHEN length(x.t) > 10 AND (substr(x.t, 12, 2)::int > 23 OR substr(x.t, 15, 2)::int > 59) THEN NULL
                WHEN substr(x.t, 17, 1) = ':' AND substr(x.t, 18, 2)::int > 59 THEN NULL
                WHEN x.tz = 'Z' THEN x.t::timestamptz
                WHEN x.tz <> '' THEN CASE
                    WHEN substr(x.tz, 2, 2)::int * 60 + coalesce(nullif(replace(substr(x.tz, 4), ':', ''), '')::int, 0)
                         > %(max_offset_minutes)s THEN NULL
                    ELSE x.t::timestamptz END
                ELSE x.t::timestamp AT TIME ZONE 'Africa/Nairobi' END AS read_at
    FROM (
        SELECT y.*,
               -- the UTC offset as written (+03:00, +0300, +03 or Z), read off the layout
               CASE WHEN y.shape LIKE '%%Z' THEN 'Z'
                    WHEN y.shape LIKE '%%+00:00' OR y.shape LIKE '%%-00:00' THEN right(y.t, 6)
                    WHEN length(y.shape) > 16 AND (y.shape LIKE '%%+0000' OR y.shape LIKE '%%-0000') THEN right(y.t, 5)
                    WHEN length(y.shape) > 16 AND (y.shape LIKE '%%+00' OR y.shape LIKE '%%-00') THEN right(y.t, 3)
                    ELSE '' END AS tz,
               CASE WHEN strpos(y.v0, ',') > 0 AND y.v0 ~ %(thousands_re)s THEN replace(y.v0, ',', '')
                    ELSE y.v0 END AS v
        FROM (
            SELECT r.idx, r.serial, r.reason_raw, r.note_raw, btrim(coalesce(r.read_at_raw, '')) AS t,
                   translate(btrim(coalesce(r.read_at_raw, '')), '0123456789', '0000000000') AS shape,
                   btrim(coalesce(r.value_raw, '')) AS v0
            FROM tmp_raw r WHERE r.idx BETWEEN %(first)s AND %(last)s
            OFFSET 0  -- a fence: evaluate each row's trimmed text and layout once
        ) y
        OFFSET 0
    ) x
    OFFSET 0  -- a fence: the parsed value and time are used twice above, computed once here
) p
"""

_JUDGE_SQL = """
WITH base AS (
    SELECT t.idx, t.value, t.read_at, t.reason, t.note, m.id AS meter_id, m.status AS meter_status,
           m.dial_capacity AS cap, m.installed_on,
           same.id AS same_id, same.value AS same_value,
           nxt.value AS next_value, nxt.read_at AS next_at, nxt.reason AS next_reason,
           coalesce(prev.vals[1], m.initial_reading) AS previous,
           coalesce(prev.last_at, m.installed_on::timestamp AT TIME ZONE 'Africa/Nairobi') AS previous_at,
           prev.cons, prev.last_at, hist.n, hist.first_at, hist.total, hist.first_cons
    FROM tmp_eval t
    LEFT JOIN meters_meter m ON m.serial = t.serial
    LEFT JOIN LATERAL (
        SELECT r.id, r.value FROM meters_reading r
        WHERE r.meter_id = m.id AND r.read_at = t.read_at AND r.status <> 'rejected'
    ) same ON true
    LEFT JOIN LATERAL (
        SELECT r.value, r.read_at, r.reason FROM meters_reading r
        WHERE r.meter_id = m.id AND r.read_at > t.read_at AND r.status = 'accepted'
        ORDER BY r.read_at LIMIT 1
    ) nxt ON true
    LEFT JOIN LATERAL (
        SELECT array_agg(x.value ORDER BY x.read_at DESC) AS vals,
               array_agg(x.consumption ORDER BY x.read_at DESC) AS cons, max(x.read_at) AS last_at
        FROM (SELECT r.value, r.consumption, r.read_at FROM meters_reading r
              WHERE r.meter_id = m.id AND r.read_at < t.read_at AND r.status = 'accepted'
              ORDER BY r.read_at DESC LIMIT 3) x
    ) prev ON true
    LEFT JOIN LATERAL (
        SELECT count(*) AS n, min(r.read_at) AS first_at, sum(r.consumption) AS total,
               (array_agg(r.consumption ORDER BY r.read_at))[1] AS first_cons
        FROM meters_reading r
        WHERE r.meter_id = m.id AND r.status = 'accepted' AND r.read_at < t.read_at
          AND r.read_at >= t.read_at - make_interval(days => %(history_days)s)
    ) hist ON (prev.last_at IS NOT NULL)
    WHERE t.ok AND t.rnk = %(rank)s AND t.idx BETWEEN %(first)s AND %(last)s
), judged AS (
    SELECT b.*,
           CASE WHEN b.meter_id IS NULL THEN 'unknown_meter'
                -- A replaced meter still takes readings dated before its final one (late arrivals).
                WHEN b.meter_status <> 'active' AND NOT (b.meter_status = 'replaced' AND b.next_value IS NOT NULL)
                     THEN 'inactive_meter'
                WHEN b.same_id IS NOT NULL AND b.same_value = b.value THEN 'repeat'
                WHEN b.same_id IS NOT NULL THEN 'conflict'
                WHEN b.read_at < b.installed_on::timestamp AT TIME ZONE 'Africa/Nairobi' THEN 'before_install'
                WHEN b.value < b.previous AND b.reason = '' THEN 'below_previous'
                WHEN b.next_value IS NOT NULL AND b.value > b.next_value AND b.next_reason = '' THEN 'above_later'
           END AS code,
           CASE WHEN b.value >= b.previous THEN b.value - b.previous
                WHEN b.reason = 'rollover' THEN b.value + b.cap + 0.001 - b.previous
                ELSE b.value END AS consumption
    FROM base b
), verdicts AS (
    SELECT j.idx, j.meter_id, j.value, j.read_at, j.reason, j.note, j.code, j.consumption,
           array_remove(ARRAY[
               CASE WHEN j.n >= 2 AND j.last_at > j.first_at AND j.total - j.first_cons > 0
                     AND j.consumption > %(high_factor)s * (j.total - j.first_cons)
                         / (extract(epoch FROM j.last_at - j.first_at) / 86400)
                         * greatest(extract(epoch FROM j.read_at - j.previous_at) / 86400, 1)
                    THEN 'high_consumption' END,
               CASE WHEN j.consumption = 0 AND cardinality(j.cons) >= 2 AND j.cons[1] = 0 AND j.cons[2] = 0
                    THEN 'zero_streak' END,
               CASE WHEN j.value > j.cap OR j.consumption > j.cap / 2 THEN 'dial_range' END,
               CASE WHEN %(portal)s THEN 'client_submitted' END
           ]::varchar(20)[], NULL) AS flags,
           j.previous, j.previous_at, j.next_value, j.next_at, j.same_id, j.same_value, j.installed_on,
           j.meter_status
    FROM judged j
), stored AS (
    INSERT INTO meters_reading (meter_id, value, read_at, consumption, source, reason, status, flags, note,
                                recorded_by_id, created)
    SELECT f.meter_id, f.value, f.read_at, f.consumption, %(source)s, f.reason,
           CASE WHEN cardinality(f.flags) > 0 THEN 'flagged' ELSE 'accepted' END, f.flags, f.note,
           %(user_id)s, %(now)s
    FROM verdicts f WHERE f.code IS NULL
    -- A rejected reading gives its meter-and-time slot to the corrected one.
    ON CONFLICT (meter_id, read_at) DO UPDATE SET
        value = EXCLUDED.value, consumption = EXCLUDED.consumption, source = EXCLUDED.source,
        reason = EXCLUDED.reason, status = EXCLUDED.status, flags = EXCLUDED.flags, note = EXCLUDED.note,
        recorded_by_id = EXCLUDED.recorded_by_id, created = EXCLUDED.created, photo = '',
        reviewed_by_id = NULL, reviewed_at = NULL
        WHERE meters_reading.status = 'rejected'
    RETURNING meter_id, read_at, status
), noted AS (
    -- The accepted ones, for leak detection once the whole batch is in (meters/alerts.py).
    INSERT INTO tmp_accepted (meter_id, read_at) SELECT s.meter_id, s.read_at FROM stored s WHERE s.status = 'accepted'
), kept AS (
    -- Only rows that need more work afterwards: messages, repeats, out-of-order recomputation
    -- (or every row, when the caller wants each reading's id back).
    INSERT INTO tmp_verdict (idx, meter_id, value, read_at, reason, note, code, consumption, flags, previous,
                             previous_at, next_value, next_at, same_id, same_value, installed_on, meter_status)
    SELECT f.idx, f.meter_id, f.value, f.read_at, f.reason, f.note, f.code, f.consumption, f.flags, f.previous,
           f.previous_at, f.next_value, f.next_at, f.same_id, f.same_value, f.installed_on, f.meter_status
    FROM verdicts f WHERE f.code IS NOT NULL OR f.next_value IS NOT NULL OR %(keep_all)s
    RETURNING 1
)
SELECT (SELECT count(*) FROM stored), (SELECT count(*) FROM stored WHERE status = 'flagged'),
       (SELECT count(*) FROM kept)
"""

# Readings the client sent in (portal, USSD, SMS): flagged "client_submitted" for review.
CLIENT_SOURCES = frozenset({Reading.Source.PORTAL, Reading.Source.USSD, Reading.Source.SMS})


def _stage_rows(cursor, raw_rows: Sequence[Mapping[str, object]]) -> None:  # type: ignore[no-untyped-def]
    with cursor.copy("COPY tmp_raw (idx, serial, value_raw, read_at_raw, reason_raw, note_raw) FROM STDIN") as copy:
        for i, raw in enumerate(raw_rows):
            if has_nul(raw):
                # COPY cannot carry it: staged blank, so the row fails parsing and is reported
                # (parse_reading names the field) while the other rows go on.
                copy.write_row((i, "", "", "", "", ""))
                continue
            copy.write_row((i, str(raw.get("meter") or ""), value_text(raw.get("value")),
                            time_text(raw.get("read_at")), str(raw.get("reason") or ""),
                            str(raw.get("note") or "")))


def _process(cursor, count: int, *, source: str, user_id: int | None, now: datetime, want_ids: bool,  # type: ignore[no-untyped-def]
             chunk: int, progress=None) -> RecordResult:
    result = RecordResult()
    params = {"value_re": VALUE_RE, "datetime_shapes": sorted(DATETIME_SHAPES), "thousands_re": THOUSANDS_RE,
              "max_offset_minutes": MAX_OFFSET_HOURS * 60, "latest": now + FUTURE_TOLERANCE,
              "history_days": HISTORY_DAYS, "high_factor": HIGH_FACTOR, "portal": source in CLIENT_SOURCES,
              "source": source, "user_id": user_id, "now": now, "keep_all": want_ids}
    if count > chunk:
        cursor.execute("CREATE INDEX ON tmp_raw (idx)")
    for first in range(0, count, chunk):
        bounds = {**params, "first": first, "last": first + chunk - 1}
        cursor.execute(_PARSE_SQL, bounds)
        if count > 100 and first == 0:
            # The planner knows nothing of a fresh temp table; the first chunk is representative.
            cursor.execute("ANALYZE tmp_eval")
        # Several readings of one meter in a chunk are judged in time order, one round each.
        cursor.execute("SELECT EXISTS (SELECT 1 FROM tmp_eval WHERE ok AND idx BETWEEN %(first)s AND %(last)s "
                       "GROUP BY serial HAVING count(*) > 1)", bounds)
        if cursor.fetchone()[0]:
            cursor.execute("UPDATE tmp_eval e SET rnk = x.rnk FROM (SELECT idx, row_number() OVER "
                           "(PARTITION BY serial ORDER BY read_at, idx) AS rnk FROM tmp_eval "
                           "WHERE ok AND idx BETWEEN %(first)s AND %(last)s) x WHERE e.idx = x.idx", bounds)
        cursor.execute("SELECT coalesce(max(rnk), 0) FROM tmp_eval WHERE ok AND idx BETWEEN %(first)s AND %(last)s", bounds)
        for rank in range(1, cursor.fetchone()[0] + 1):
            cursor.execute(_JUDGE_SQL, {**bounds, "rank": rank})
            created, flagged, _kept = cursor.fetchone()
            result.created_count += created
            result.flagged_count += flagged
        if progress:
            progress(min(first + chunk, count))
    cursor.execute("SELECT count(*) FROM tmp_verdict WHERE code = 'repeat'")
    result.repeat_count = cursor.fetchone()[0]
    # An accepted reading that arrived after a later one changes that later one's consumption.
    cursor.execute("SELECT meter_id, min(read_at) FROM tmp_verdict WHERE code IS NULL AND next_value IS NOT NULL "
                   "AND cardinality(flags) = 0 GROUP BY meter_id")
    later = cursor.fetchall()
    if later:
        consumption_recompute_pairs(later)
    if want_ids:
        cursor.execute("SELECT v.idx, coalesce(r.id, v.same_id), v.consumption, r.status, v.flags, v.code "
                       "FROM tmp_verdict v LEFT JOIN meters_reading r ON r.meter_id = v.meter_id "
                       "AND r.read_at = v.read_at AND v.code IS NULL "
                       "WHERE v.code IS NULL OR v.code = 'repeat' ORDER BY v.idx")
        for idx, rid, consumption, status, flags, code in cursor.fetchall():
            target = result.repeats if code == "repeat" else result.created
            target.append(RecordedReading(idx, rid, consumption, status or "", list(flags or []), code == "repeat"))
    return result


def _messages(cursor, result: RecordResult, raw_of, now: datetime, max_errors: int) -> None:  # type: ignore[no-untyped-def]
    """Error messages for the rows that failed, built only for those rows."""
    cursor.execute("SELECT count(*) FROM tmp_eval WHERE NOT ok")
    parse_failures = cursor.fetchone()[0]
    cursor.execute("SELECT count(*) FROM tmp_verdict WHERE code IS NOT NULL AND code <> 'repeat'")
    result.error_count = parse_failures + cursor.fetchone()[0]
    cursor.execute(
        "(SELECT e.idx, NULL AS code, NULL::numeric, NULL::timestamptz, NULL::numeric, NULL::timestamptz, "
        "NULL::numeric, NULL::date, NULL AS status FROM tmp_eval e WHERE NOT e.ok) "
        "UNION ALL (SELECT v.idx, v.code, v.previous, v.previous_at, v.next_value, v.next_at, v.same_value, "
        "v.installed_on, v.meter_status FROM tmp_verdict v WHERE v.code IS NOT NULL AND v.code <> 'repeat') "
        "ORDER BY 1 LIMIT %s", [max_errors])
    failed = cursor.fetchall()
    raws = raw_of([row[0] for row in failed])
    for idx, code, previous, previous_at, next_value, next_at, same_value, installed_on, meter_status in failed:
        raw = raws[idx]
        parsed = parse_reading(idx, raw, now)
        if code is None:
            errors = parsed.errors or {"detail": [gettext(MSG_UNREADABLE)]}
        else:
            serial, value = parsed.serial, parsed.value
            errors = {
                "unknown_meter": {"meter": [gettext(MSG_UNKNOWN_METER).format(serial=serial)]},
                "inactive_meter": {"meter": [gettext(MSG_INACTIVE_METER).format(serial=serial, status=meter_status)]},
                "conflict": {"value": [gettext(MSG_CONFLICT).format(serial=serial, existing=same_value)]},
                "before_install": {"read_at": [gettext(MSG_BEFORE_INSTALL).format(installed=installed_on and installed_on.isoformat())]},
                "below_previous": {"value": [gettext(MSG_BELOW_PREVIOUS).format(value=value, previous=previous,
                                                                        when=previous_at and local_day(previous_at))]},
                "above_later": {"value": [gettext(MSG_ABOVE_LATER).format(value=value, later=next_value,
                                                                  when=next_at and local_day(next_at))]},
            }[code]
        result.errors.append({"index": idx, "errors": errors})


def _begin(cursor) -> None:  # type: ignore[no-untyped-def]
    cursor.execute(_READINGS_LOCK_SQL)
    # JIT compiling these short per-row lookups costs more than it saves.
    cursor.execute("SET LOCAL jit = off")
    cursor.execute(_TABLES_SQL)


def readings_record(raw_rows: Sequence[Mapping[str, object]], *, source: str, user: object = None,
                    want_ids: bool = True, max_errors: int = 1000) -> RecordResult:
    """Validate and store a batch of readings: valid rows are kept, each invalid row reported
    with its index and field messages; a repeat of a stored reading is not an error."""
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        _begin(cursor)
        _stage_rows(cursor, raw_rows)
        result = _process(cursor, len(raw_rows), source=source, user_id=getattr(user, "pk", None), now=now,
                          want_ids=want_ids, chunk=max(len(raw_rows), 1))
        _messages(cursor, result, lambda idxs: {i: raw_rows[i] for i in idxs}, now, max_errors)
        leak_detect(cursor)
    return result


def readings_record_csv(stream, columns: list[str], mapping: dict[str, int], *, source: str,  # type: ignore[no-untyped-def]
                        user: object = None, chunk: int = 20_000, progress=None, max_errors: int = 1000) -> RecordResult:
    """The same pipeline fed straight from a CSV byte stream by COPY (no per-row Python).
    `columns` are the header's names, `mapping` says which column holds meter/value/read_at/...
    Row indexes in the result are data-row numbers (0 = the line after the header)."""
    now = timezone.now()
    cols = ", ".join(f"c{i} text" for i in range(len(columns)))
    with transaction.atomic(), connection.cursor() as cursor:
        _begin(cursor)
        cursor.execute(f"CREATE TEMP TABLE tmp_csv ({cols}, line bigserial) ON COMMIT DROP")
        names = ", ".join(f"c{i}" for i in range(len(columns)))
        with cursor.copy(f"COPY tmp_csv ({names}) FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            while block := stream.read(1 << 16):
                copy.write(block)

        def col(key: str) -> str:
            return f"c{mapping[key]}" if key in mapping else "NULL"

        cursor.execute(f"INSERT INTO tmp_raw SELECT line - 1, {col('meter')}, {col('value')}, {col('read_at')}, "  # noqa: S608 - identifiers from our code; values are bound parameters
                       f"{col('reason')}, {col('note')} FROM tmp_csv")
        count = cursor.rowcount

        def raw_of(idxs: list[int]) -> dict[int, Mapping[str, object]]:
            cursor.execute("SELECT idx, serial, value_raw, read_at_raw, reason_raw, note_raw FROM tmp_raw "
                           "WHERE idx = ANY(%s)", [idxs])
            return {r[0]: {"meter": r[1], "value": r[2], "read_at": r[3], "reason": r[4], "note": r[5]}
                    for r in cursor.fetchall()}

        result = _process(cursor, count, source=source, user_id=getattr(user, "pk", None), now=now,
                          want_ids=False, chunk=chunk, progress=progress)
        _messages(cursor, result, raw_of, now, max_errors)
        leak_detect(cursor)
        cursor.execute("DROP TABLE tmp_csv")
    return result


def consumption_recompute_pairs(pairs: Sequence[tuple[int, datetime]]) -> int:
    """Recompute consumption of readings of each meter from its given time on. One statement."""
    if not pairs:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE meters_reading r SET consumption = CASE
                WHEN r.value >= x.previous THEN r.value - x.previous
                WHEN r.reason = 'rollover' THEN r.value + x.dial_capacity + 0.001 - x.previous
                WHEN r.reason = 'replacement' THEN r.value
                ELSE NULL END
            FROM (
                SELECT r2.id, m.dial_capacity, COALESCE(p.value, m.initial_reading) AS previous
                FROM unnest(%s::bigint[], %s::timestamptz[]) AS k(meter_id, since)
                JOIN meters_reading r2 ON r2.meter_id = k.meter_id AND r2.read_at >= k.since
                JOIN meters_meter m ON m.id = r2.meter_id
                LEFT JOIN LATERAL (
                    SELECT p.value FROM meters_reading p
                    WHERE p.meter_id = r2.meter_id AND p.status = 'accepted' AND p.read_at < r2.read_at
                    ORDER BY p.read_at DESC LIMIT 1
                ) p ON true
            ) x
            WHERE r.id = x.id AND r.consumption IS DISTINCT FROM CASE
                WHEN r.value >= x.previous THEN r.value - x.previous
                WHEN r.reason = 'rollover' THEN r.value + x.dial_capacity + 0.001 - x.previous
                WHEN r.reason = 'replacement' THEN r.value
                ELSE NULL END
            """,
            [[p[0] for p in pairs], [p[1] for p in pairs]],
        )
        return cursor.rowcount


def consumption_recompute(meter_ids: Iterable[int], since: datetime) -> int:
    return consumption_recompute_pairs([(m, since) for m in meter_ids])


MSG_REVIEW_BELOW = ("Cannot accept {value}: it is lower than the accepted reading before it ({previous} on {when}). "
                    "Reject it, or correct the readings around it.")
MSG_REVIEW_ABOVE = ("Cannot accept {value}: it is higher than an accepted reading after it ({later} on {when}). "
                    "Reject it, or correct the readings around it.")


def _review_check(reading: Reading) -> None:
    """An accepted reading must sit between its accepted neighbours, as at recording time."""
    accepted = Reading.objects.filter(meter_id=reading.meter_id, status=Reading.Status.ACCEPTED).exclude(pk=reading.pk)
    before = accepted.filter(read_at__lt=reading.read_at).order_by("-read_at").first()
    previous = before.value if before else reading.meter.initial_reading
    if reading.value < previous and reading.reason not in (Reading.Reason.ROLLOVER, Reading.Reason.REPLACEMENT):
        when = local_day(before.read_at) if before else f"installation, {reading.meter.installed_on}"
        raise ValidationError({"value": [MSG_REVIEW_BELOW.format(value=reading.value, previous=previous, when=when)]})
    after = accepted.filter(read_at__gt=reading.read_at).order_by("read_at").first()
    if after is not None and reading.value > after.value and not after.reason:
        raise ValidationError({"value": [MSG_REVIEW_ABOVE.format(value=reading.value, later=after.value,
                                                                   when=local_day(after.read_at))]})


@transaction.atomic
def reading_review(*, reading: Reading, accept: bool, actor: object) -> Reading:
    with connection.cursor() as cursor:
        cursor.execute(_READINGS_LOCK_SQL)  # a batch being recorded must not judge against a half-reviewed meter
    reading = Reading.objects.select_for_update().select_related("meter").get(pk=reading.pk)
    if accept:
        _review_check(reading)
    reading.status = Reading.Status.ACCEPTED if accept else Reading.Status.REJECTED
    reading.reviewed_by = actor_user(actor)
    reading.reviewed_at = timezone.now()
    reading.save(update_fields=["status", "reviewed_by", "reviewed_at"])
    consumption_recompute([reading.meter_id], reading.read_at)
    if accept:
        with connection.cursor() as cursor:
            leak_detect(cursor, [(reading.meter_id, reading.read_at)])
    audit(actor=actor, action="reading.accepted" if accept else "reading.rejected",
          object_repr=f"{reading.meter.serial} {reading.value} @ {reading.read_at:%Y-%m-%d}")
    return reading


def _check_meter(serial: str, installed_on: date, initial: Decimal, capacity: Decimal) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if Meter.objects.filter(serial=serial).exists():
        errors["serial"] = [MSG_SERIAL_TAKEN.format(serial=serial)]
    if installed_on > timezone.localdate():
        errors["installed_on"] = [MSG_INSTALLED_FUTURE]
    if initial < 0 or initial > capacity:
        errors["initial_reading"] = [MSG_INITIAL_RANGE]
    return errors


def _check_owner(kind: str, client: Client | None, zone: Zone | None) -> dict[str, list[str]]:
    """A client meter is a client's, a bulk meter a zone's (the table's check says so too; this
    says it in words, on the field at fault)."""
    errors: dict[str, list[str]] = {}
    if kind == Meter.Kind.BULK:
        if zone is None:
            errors["zone"] = [MSG_ZONE_REQUIRED]
        if client is not None:
            errors["client"] = [MSG_BULK_NO_CLIENT]
    else:
        if client is None:
            errors["client"] = [MSG_CLIENT_REQUIRED]
        if zone is not None:
            errors["zone"] = [MSG_CLIENT_NO_ZONE]
    return errors


@transaction.atomic
def meter_create(*, actor: object, serial: str, client: Client | None = None, installed_on: date,
                 initial_reading: Decimal = ZERO, dial_capacity: Decimal = Decimal("99999.999"),
                 kind: str = Meter.Kind.CLIENT, zone: Zone | None = None) -> Meter:
    """A client's meter, or (kind "bulk") a zone's bulk meter: read like any other, never billed."""
    serial = serial.strip().upper()
    errors = _check_owner(kind, client, zone) | _check_meter(serial, installed_on, initial_reading, dial_capacity)
    if errors:
        raise ValidationError(errors)
    meter = Meter.objects.create(serial=serial, kind=kind, client=client, zone=zone, installed_on=installed_on,
                                 initial_reading=initial_reading, dial_capacity=dial_capacity)
    owner = f"zone {zone.code} (bulk)" if zone is not None else client.account_number if client else ""
    audit(actor=actor, action="meter.created", object_repr=f"{serial} for {owner}")
    return meter


@transaction.atomic
def meter_replace(*, actor: object, meter: Meter, final_reading: Decimal, replaced_at: datetime,
                  new_serial: str, new_initial_reading: Decimal = ZERO,
                  new_dial_capacity: Decimal | None = None) -> Meter:
    """Close `meter` with its final reading and put a new meter on the same client (or, for a
    bulk meter, the same zone); the final reading bills the old meter's last stretch, the new one
    counts on from its initial reading."""
    # Lock: two replacements of the same meter would both see it active.
    meter = Meter.objects.select_for_update().get(pk=meter.pk)
    if meter.status != Meter.Status.ACTIVE:
        raise ValidationError({"meter": [gettext(MSG_INACTIVE_METER).format(serial=meter.serial, status=meter.status)]})
    new_serial = new_serial.strip().upper()
    capacity = new_dial_capacity if new_dial_capacity is not None else meter.dial_capacity
    if errors := _check_meter(new_serial, timezone.localtime(replaced_at).date(), new_initial_reading, capacity):
        raise ValidationError(errors)
    final = readings_record([{"meter": meter.serial, "value": final_reading, "read_at": replaced_at,
                              "note": f"Final reading; replaced by {new_serial}"}],
                            source=Reading.Source.MANUAL, user=actor)
    if final.errors:
        raise ValidationError({"final_reading": [m for e in final.errors for ms in e["errors"].values() for m in ms]})
    new = Meter.objects.create(serial=new_serial, kind=meter.kind, client=meter.client, zone=meter.zone,
                               installed_on=timezone.localtime(replaced_at).date(),
                               initial_reading=new_initial_reading, dial_capacity=capacity)
    meter.status = Meter.Status.REPLACED
    meter.final_reading = final_reading
    meter.removed_on = timezone.localtime(replaced_at).date()
    meter.replaced_by = new
    meter.save(update_fields=["status", "final_reading", "removed_on", "replaced_by"])
    audit(actor=actor, action="meter.replaced", object_repr=f"{meter.serial} → {new.serial}",
          final_reading=str(final_reading), new_initial_reading=str(new_initial_reading))
    return new




def import_progress_key(job_id: int) -> str:
    # The cache, not the job row: the import's own transaction would hide row updates until the end.
    return f"reading-import:{job_id}"


def reading_import_run(job_id: int) -> str:
    """Run a queued CSV import (in a Celery worker, or in-process when tasks run eagerly)."""

    from majismart import uploads
    from meters.models import ReadingImport

    # Claim by UPDATE: a redelivered task finds the job no longer queued and does nothing.
    if ReadingImport.objects.filter(pk=job_id, status=ReadingImport.Status.QUEUED).update(
            status=ReadingImport.Status.RUNNING) != 1:
        return "already taken"
    job = ReadingImport.objects.select_related("created_by").get(pk=job_id)
    kept = uploads.open_kept(job.token, "readings")
    try:
        _run_import(job, kept, job_id)
    except Exception:
        # Whatever stopped it (a time limit, the database), the page must not poll for ever.
        ReadingImport.objects.filter(pk=job_id).update(
            status=ReadingImport.Status.FAILED, finished=timezone.now(),
            summary={"message": "The import stopped unexpectedly; nothing from it was saved. Please try again."})
        uploads.discard(job.token, "readings")
        raise
    return ReadingImport.objects.get(pk=job_id).status


def _run_import(job, kept, job_id: int) -> None:  # type: ignore[no-untyped-def]
    from django.core.cache import cache

    from majismart import uploads
    from meters.imports import ImportFormatError, readings_import
    from meters.models import ReadingImport

    try:
        if kept is None:
            raise ImportFormatError("The uploaded file is gone; please upload it again.")
        with kept:
            summary = readings_import(kept, user=job.created_by,
                                      progress=lambda n: cache.set(import_progress_key(job_id), n, 3600))
        job.summary = {"rows": summary.rows, "created": summary.created, "flagged": summary.flagged,
                       "unchanged": summary.unchanged, "error_count": summary.error_count,
                       "errors": summary.errors[:200]}
        job.status = ReadingImport.Status.DONE
    except ImportFormatError as exc:
        job.summary = {"message": str(exc)}
        job.status = ReadingImport.Status.FAILED
    job.finished = timezone.now()
    job.save(update_fields=["summary", "status", "finished"])
    uploads.discard(job.token, "readings")
