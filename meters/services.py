"""Writes for meters and readings.

Every way a reading arrives (entry sheet, CSV, API, portal) goes through `readings_record`,
which works on a whole batch in a few statements: the parsed rows are copied into a temporary
table, one query fetches for every row its meter, the reading at the same time, the next one,
the last three accepted ones and the meter's recent history; the verdicts are worked out in
Python from that one result; the accepted and flagged rows are written with COPY.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.services import audit
from clients.models import Client
from meters.models import Meter, Reading
from meters.validation import (
    MSG_ABOVE_LATER,
    MSG_BEFORE_INSTALL,
    MSG_BELOW_PREVIOUS,
    MSG_CONFLICT,
    MSG_INACTIVE_METER,
    MSG_UNKNOWN_METER,
    NAIROBI,
    ParsedReading,
    local_day,
    parse_reading,
)

HISTORY_DAYS = 180
HIGH_FACTOR = Decimal("3")
ZERO = Decimal("0.000")
MSG_SERIAL_TAKEN = "A meter with serial {serial} already exists."
MSG_INITIAL_RANGE = "The initial reading must be between 0 and the dial's capacity."
MSG_INSTALLED_FUTURE = "The installation date cannot be in the future."
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
    errors: list[dict[str, object]] = field(default_factory=list)


def consumption_of(value: Decimal, previous: Decimal, reason: str, wrap: Decimal) -> Decimal:
    if value >= previous:
        return value - previous
    if reason == "rollover":
        return value + wrap - previous
    return value  # replacement: the register started again from zero


_EVALUATE_SQL = """
SELECT t.idx, m.id, m.status, m.initial_reading, m.dial_capacity, m.installed_on,
       same.value, nxt.value, nxt.read_at, nxt.reason,
       prev.vals, prev.cons, prev.last_at,
       hist.n, hist.first_at, hist.total, hist.first_cons, same.id
FROM tmp_readings t
LEFT JOIN meters_meter m ON m.serial = t.serial
LEFT JOIN LATERAL (
    SELECT r.value, r.id FROM meters_reading r WHERE r.meter_id = m.id AND r.read_at = t.read_at
) same ON true
LEFT JOIN LATERAL (
    SELECT r.value, r.read_at, r.reason FROM meters_reading r
    WHERE r.meter_id = m.id AND r.read_at > t.read_at AND r.status <> 'rejected'
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
      AND r.read_at >= t.read_at - make_interval(days => %s)
) hist ON (prev.last_at IS NOT NULL)
ORDER BY t.idx
"""


def _flags(value: Decimal, consumption: Decimal, row: tuple, read_at: datetime, prev_at: datetime,
           dial_capacity: Decimal) -> list[str]:
    flags = []
    _prev_vals, prev_cons = row[10], row[11]
    n, first_at, total, first_cons = row[13], row[14], row[15], row[16]
    if n and n >= 2 and first_at is not None and row[12] is not None:
        span_days = Decimal((row[12] - first_at).total_seconds()) / 86400
        used = (total or ZERO) - (first_cons or ZERO)
        if span_days > 0 and used > 0:
            daily = used / span_days
            interval = max(Decimal((read_at - prev_at).total_seconds()) / 86400, Decimal(1))
            if consumption > HIGH_FACTOR * daily * interval:
                flags.append(Reading.Flag.HIGH)
    if consumption == 0 and prev_cons and len(prev_cons) >= 2 and prev_cons[0] == 0 and prev_cons[1] == 0:
        flags.append(Reading.Flag.ZERO)
    if value > dial_capacity or consumption > dial_capacity / 2:
        flags.append(Reading.Flag.DIAL)
    return flags


def _evaluate_round(rows: Sequence[ParsedReading], *, source: str, user_id: int | None,
                    result: RecordResult, now: datetime) -> list[tuple]:
    """Verdicts for rows with at most one reading per meter; returns rows to insert."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS tmp_readings (idx int, serial text, "
                       "value numeric(12,3), read_at timestamptz, reason text) ON COMMIT DROP")
        cursor.execute("TRUNCATE tmp_readings")
        with cursor.copy("COPY tmp_readings (idx, serial, value, read_at, reason) FROM STDIN") as copy:
            for r in rows:
                copy.write_row((r.index, r.serial, r.value, r.read_at, r.reason))
        if len(rows) > 100:
            cursor.execute("ANALYZE tmp_readings")  # the planner knows nothing of a fresh temp table
        cursor.execute(_EVALUATE_SQL, [HISTORY_DAYS])
        evaluated = cursor.fetchall()
    by_index = {r.index: r for r in rows}
    inserts = []
    for row in evaluated:
        parsed = by_index[row[0]]
        meter_id, status, initial, capacity, installed_on = row[1:6]
        if meter_id is None:
            parsed.error("meter", MSG_UNKNOWN_METER.format(serial=parsed.serial))
        elif status != Meter.Status.ACTIVE:
            parsed.error("meter", MSG_INACTIVE_METER.format(serial=parsed.serial, status=status))
        if parsed.errors:
            continue
        value, read_at = parsed.value, parsed.read_at
        assert value is not None and read_at is not None
        if row[6] is not None:  # a reading at this meter and time exists
            if row[6] == value:
                result.repeats.append(RecordedReading(parsed.index, row[17], None, "", [], repeat=True))
            else:
                parsed.error("value", MSG_CONFLICT.format(serial=parsed.serial, existing=row[6]))
            continue
        installed_at = datetime.combine(installed_on, time(), tzinfo=NAIROBI)
        if read_at < installed_at:
            parsed.error("read_at", MSG_BEFORE_INSTALL.format(installed=installed_on.isoformat()))
            continue
        previous = row[10][0] if row[10] else initial
        prev_at = row[12] or installed_at
        if value < previous and parsed.reason not in ("rollover", "replacement"):
            parsed.error("value", MSG_BELOW_PREVIOUS.format(value=value, previous=previous, when=local_day(prev_at)))
            continue
        if row[7] is not None and value > row[7] and not row[9]:
            parsed.error("value", MSG_ABOVE_LATER.format(value=value, later=row[7], when=local_day(row[8])))
            continue
        consumption = consumption_of(value, previous, parsed.reason, capacity + Decimal("0.001"))
        flags = _flags(value, consumption, row, read_at, prev_at, capacity)
        if source == Reading.Source.PORTAL:
            flags.append(Reading.Flag.CLIENT)
        state = Reading.Status.FLAGGED if flags else Reading.Status.ACCEPTED
        inserts.append((parsed.index, meter_id, value, read_at, consumption, source, parsed.reason, state,
                        flags, parsed.note, user_id, now))
    return inserts


def _insert(inserts: list[tuple], result: RecordResult, want_ids: bool) -> None:
    if not inserts:
        return
    columns = "meter_id, value, read_at, consumption, source, reason, status, flags, note, recorded_by_id, created"
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY meters_reading ({columns}) FROM STDIN") as copy:
            for row in inserts:
                copy.write_row(row[1:])
        if not want_ids:
            result.created.extend(RecordedReading(r[0], 0, r[4], r[7], list(r[8])) for r in inserts)
            return
        # Ids back in one query: (meter, read_at) is unique.
        cursor.execute(
            "SELECT r.id, r.meter_id, r.read_at FROM meters_reading r "
            "JOIN unnest(%s::bigint[], %s::timestamptz[]) AS k(meter_id, read_at) "
            "ON r.meter_id = k.meter_id AND r.read_at = k.read_at",
            [[r[1] for r in inserts], [r[3] for r in inserts]],
        )
        ids = {(m, t): i for i, m, t in cursor.fetchall()}
    for row in inserts:
        result.created.append(RecordedReading(row[0], ids[(row[1], row[3])], row[4], row[7], list(row[8])))


def consumption_recompute(meter_ids: Iterable[int], since: datetime) -> int:
    """Recompute consumption of readings at or after `since` on these meters (after an
    out-of-order arrival, a review decision or a correction). One statement."""
    meter_ids = list(meter_ids)
    if not meter_ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE meters_reading r SET consumption = CASE
                WHEN r.value >= x.previous THEN r.value - x.previous
                WHEN r.reason = 'rollover' THEN r.value + x.dial_capacity + 0.001 - x.previous
                ELSE r.value END
            FROM (
                SELECT r2.id, m.dial_capacity,
                       COALESCE(p.value, m.initial_reading) AS previous
                FROM meters_reading r2
                JOIN meters_meter m ON m.id = r2.meter_id
                LEFT JOIN LATERAL (
                    SELECT p.value FROM meters_reading p
                    WHERE p.meter_id = r2.meter_id AND p.status = 'accepted' AND p.read_at < r2.read_at
                    ORDER BY p.read_at DESC LIMIT 1
                ) p ON true
                WHERE r2.meter_id = ANY(%s) AND r2.read_at >= %s
            ) x
            WHERE r.id = x.id
            """,
            [meter_ids, since],
        )
        return cursor.rowcount


def readings_record(raw_rows: Sequence[dict[str, object]], *, source: str, user: object = None,
                    want_ids: bool = True) -> RecordResult:
    """Validate and store a batch of readings: valid rows are kept, each invalid row reported
    with its index and field messages; a repeat of a stored reading is not an error."""
    now = timezone.now()
    result = RecordResult()
    parsed = [parse_reading(i, raw, now) for i, raw in enumerate(raw_rows)]
    valid = [p for p in parsed if not p.errors]
    user_id = getattr(user, "pk", None)
    # Several readings of one meter in a batch are taken in time order, one per round, so each
    # is checked against the one before it.
    rounds: dict[int, list[ParsedReading]] = defaultdict(list)
    per_meter: dict[str, list[ParsedReading]] = defaultdict(list)
    for p in valid:
        per_meter[p.serial].append(p)
    for readings in per_meter.values():
        readings.sort(key=lambda p: p.read_at)
        for rank, p in enumerate(readings):
            rounds[rank].append(p)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_READINGS_LOCK_SQL)
            # JIT compiling these short per-row lookups costs more than it saves.
            cursor.execute("SET LOCAL jit = off")
        out_of_order: dict[int, datetime] = {}
        for rank in sorted(rounds):
            inserts = _evaluate_round(rounds[rank], source=source, user_id=user_id, result=result, now=now)
            _insert(inserts, result, want_ids)
            for row in inserts:
                if row[7] == Reading.Status.ACCEPTED:
                    out_of_order[row[1]] = min(out_of_order.get(row[1], row[3]), row[3])
        if out_of_order:
            # An accepted reading that arrived after a later one changes that later one's
            # consumption; recomputing from the earliest arrival per meter covers every case.
            _recompute_later(out_of_order)
    result.errors = [{"index": p.index, "errors": p.errors} for p in parsed if p.errors]
    result.created.sort(key=lambda r: r.index)
    return result


def _recompute_later(earliest: dict[int, datetime]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT r.meter_id FROM meters_reading r JOIN unnest(%s::bigint[], %s::timestamptz[]) "
            "AS k(meter_id, read_at) ON r.meter_id = k.meter_id AND r.read_at > k.read_at",
            [list(earliest), list(earliest.values())],
        )
        affected = [row[0] for row in cursor.fetchall()]
    for meter_id in affected:
        consumption_recompute([meter_id], earliest[meter_id])


@transaction.atomic
def reading_review(*, reading: Reading, accept: bool, actor: object) -> Reading:
    reading = Reading.objects.select_for_update().get(pk=reading.pk)
    reading.status = Reading.Status.ACCEPTED if accept else Reading.Status.REJECTED
    reading.reviewed_by = actor if getattr(actor, "pk", None) else None
    reading.reviewed_at = timezone.now()
    reading.save(update_fields=["status", "reviewed_by", "reviewed_at"])
    consumption_recompute([reading.meter_id], reading.read_at)
    audit(actor=actor, action="reading.accepted" if accept else "reading.rejected",
          object_repr=f"{reading.meter.serial} {reading.value} @ {reading.read_at:%Y-%m-%d}")
    return reading


def _check_meter(serial: str, installed_on: date, initial: Decimal, capacity: Decimal) -> None:
    errors: dict[str, list[str]] = {}
    if Meter.objects.filter(serial=serial).exists():
        errors["serial"] = [MSG_SERIAL_TAKEN.format(serial=serial)]
    if installed_on > timezone.localdate():
        errors["installed_on"] = [MSG_INSTALLED_FUTURE]
    if initial < 0 or initial > capacity:
        errors["initial_reading"] = [MSG_INITIAL_RANGE]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def meter_create(*, actor: object, serial: str, client: Client, installed_on: date,
                 initial_reading: Decimal = ZERO, dial_capacity: Decimal = Decimal("99999.999")) -> Meter:
    serial = serial.strip().upper()
    _check_meter(serial, installed_on, initial_reading, dial_capacity)
    meter = Meter.objects.create(serial=serial, client=client, installed_on=installed_on,
                                 initial_reading=initial_reading, dial_capacity=dial_capacity)
    audit(actor=actor, action="meter.created", object_repr=f"{serial} for {client.account_number}")
    return meter


@transaction.atomic
def meter_replace(*, actor: object, meter: Meter, final_reading: Decimal, replaced_at: datetime,
                  new_serial: str, new_initial_reading: Decimal = ZERO,
                  new_dial_capacity: Decimal | None = None) -> Meter:
    """Close `meter` with its final reading and put a new meter on the same client; the final
    reading bills the old meter's last stretch, the new one counts on from its initial reading."""
    # Lock: two replacements of the same meter would both see it active.
    meter = Meter.objects.select_for_update().get(pk=meter.pk)
    if meter.status != Meter.Status.ACTIVE:
        raise ValidationError({"meter": [MSG_INACTIVE_METER.format(serial=meter.serial, status=meter.status)]})
    new_serial = new_serial.strip().upper()
    capacity = new_dial_capacity if new_dial_capacity is not None else meter.dial_capacity
    _check_meter(new_serial, timezone.localtime(replaced_at).date(), new_initial_reading, capacity)
    final = readings_record([{"meter": meter.serial, "value": final_reading, "read_at": replaced_at,
                              "note": f"Final reading; replaced by {new_serial}"}],
                            source=Reading.Source.MANUAL, user=actor)
    if final.errors:
        raise ValidationError({"final_reading": [m for e in final.errors for ms in e["errors"].values() for m in ms]})
    new = Meter.objects.create(serial=new_serial, client=meter.client, installed_on=timezone.localtime(replaced_at).date(),
                               initial_reading=new_initial_reading, dial_capacity=capacity)
    meter.status = Meter.Status.REPLACED
    meter.final_reading = final_reading
    meter.removed_on = timezone.localtime(replaced_at).date()
    meter.replaced_by = new
    meter.save(update_fields=["status", "final_reading", "removed_on", "replaced_by"])
    audit(actor=actor, action="meter.replaced", object_repr=f"{meter.serial} → {new.serial}",
          final_reading=str(final_reading), new_initial_reading=str(new_initial_reading))
    return new


