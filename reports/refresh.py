"""The one place the reports' figures are defined: `figures_refresh` rebuilds every table of
reports.models from what they are made of, in one transaction and one snapshot (REPEATABLE READ),
so the figures of a page always agree with each other.

Definitions (shared/API.md's for the summary):
- billed (BilledCell, BilledLine): issued invoices by their period; drafts are not bills. Zone is
  the client's zone now; category the invoice's.
- collected (PaymentDay): payments by the Nairobi calendar day they were received, kept with
  their status; the figures count MATCHED and UNMATCHED ones (the money is in the provider's
  account either way), never REVERSED (recorded in error) or REFUNDED (given back).
- consumption read (UsageCell): accepted readings of client meters by the Nairobi month of
  `read_at`, per meter first (a meter whose month adds up to 0 m³ is a zero-consumption meter,
  listed in ZeroMeter).
- positions (Position, AgingCell): billing.sql.CLIENT_POSITIONS - every positive balance with
  the due date of the oldest unpaid bill; its age is worked out on the day it is read.
- the reading round (MeterRound, RoundCell): the active meters of active clients (as
  meters.selectors.reading_round counts them), by the client's zone now, with the Nairobi day of
  each one's latest accepted reading; `since` is that day, or the installation day when never read.
- round completion (ReadCell): per Nairobi month of `read_at`, the round's meters with a reading
  that month that was not rejected (anyone's: flagged ones were read, they wait for review).
- readings captured (ReaderCell): every reading by the Nairobi month of `read_at` and the user who
  recorded it, by status.
- connections (ConnectionCell): clients by status and whether they have an active meter."""

from __future__ import annotations

import logging
from datetime import date
from time import monotonic
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Sum, Window
from django.db.models.functions import RowNumber, TruncDate, TruncMonth
from django.utils import timezone

from billing.models import Invoice, InvoiceLine
from billing.sql import CLIENT_POSITIONS
from clients.models import Client
from clients.sql import CLIENTS
from meters.models import Meter, Reading
from meters.selectors import bulk_zones, system_input
from meters.sql import ACCEPTED_READINGS, ACTIVE_METERS, METERS
from payments.models import Payment
from payments.selectors import add_months, month_first, period_of
from reports.models import (
    AgingCell,
    BilledCell,
    BilledLine,
    ConnectionCell,
    InputCell,
    MeterRound,
    PaymentDay,
    Position,
    ReadCell,
    ReaderCell,
    Refresh,
    RoundCell,
    Stale,
    TopConsumer,
    UsageCell,
    ZeroMeter,
)

log = logging.getLogger(__name__)
NAIROBI = ZoneInfo("Africa/Nairobi")
TOP = 20  # top consumers kept per period
INPUT_MONTHS = 120  # months of bulk-meter input kept (ten years: the regulator pack's and NRW's reach)
# Serialises refreshes of one provider (pg_advisory_xact_lock takes the schema's tables as its
# scope: each schema has its own reports tables, the key is the same).
LOCK_KEY = 0x7265706F  # "repo"
TABLES = (ZeroMeter, AgingCell, Position, TopConsumer, UsageCell, PaymentDay, BilledLine, BilledCell, RoundCell,
          MeterRound, ReadCell, ReaderCell, ConnectionCell, InputCell)

_POSITIONS = f"""
    INSERT INTO {Position._meta.db_table} (client_id, balance, oldest_due)
    SELECT client_id, balance, oldest_due FROM ({CLIENT_POSITIONS}) p"""  # noqa: S608 - our fragments

_AGING = f"""
    INSERT INTO {AgingCell._meta.db_table} (zone_id, category_id, oldest_due, clients, amount)
    SELECT c.zone_id, c.category_id, p.oldest_due, count(*), sum(p.balance)
    FROM {Position._meta.db_table} p JOIN ({CLIENTS}) c ON c.id = p.client_id
    GROUP BY c.zone_id, c.category_id, p.oldest_due"""  # noqa: S608 - our fragments

# Each meter's consumption of each calendar month (Nairobi) it was read in.
_METER_MONTHS = f"""
    SELECT r.meter_id, to_char(r.read_at AT TIME ZONE 'Africa/Nairobi', 'YYYY-MM') AS period,
           sum(r.consumption) AS consumption
    FROM ({ACCEPTED_READINGS}) r WHERE r.consumption IS NOT NULL GROUP BY 1, 2"""  # noqa: S608 - our fragments

_USAGE = f"""
    INSERT INTO {UsageCell._meta.db_table} (period, category_id, zone_id, meters, zero_meters, consumption)
    SELECT mm.period, c.category_id, c.zone_id, count(*), count(*) FILTER (WHERE mm.consumption = 0),
           sum(mm.consumption)
    FROM ({_METER_MONTHS}) mm
    JOIN ({METERS}) m ON m.id = mm.meter_id JOIN ({CLIENTS}) c ON c.id = m.client_id
    GROUP BY mm.period, c.category_id, c.zone_id"""  # noqa: S608 - our fragments

_LOCAL_DAY = "(lr.last_at AT TIME ZONE 'Africa/Nairobi')::date"
_ROUND = f"""
    INSERT INTO {MeterRound._meta.db_table} (meter_id, zone_id, last_read_on, since)
    SELECT m.id, c.zone_id, {_LOCAL_DAY}, COALESCE({_LOCAL_DAY}, m.installed_on)
    FROM ({ACTIVE_METERS}) m JOIN ({CLIENTS}) c ON c.id = m.client_id AND c.active
    LEFT JOIN (SELECT r.meter_id, max(r.read_at) AS last_at FROM ({ACCEPTED_READINGS}) r GROUP BY r.meter_id) lr
           ON lr.meter_id = m.id"""  # noqa: S608 - our fragments

_ROUND_CELLS = f"""
    INSERT INTO {RoundCell._meta.db_table} (zone_id, since_period, meters)
    SELECT zone_id, to_char(since, 'YYYY-MM'), count(*) FROM {MeterRound._meta.db_table} GROUP BY 1, 2"""  # noqa: S608 - our table


def _period(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def _readings() -> None:
    """The round's completion per month and zone, and the readings each user captured per month."""
    month = TruncMonth("read_at", tzinfo=NAIROBI)
    read = (Reading.objects.exclude(status=Reading.Status.REJECTED)
            .filter(meter__status=Meter.Status.ACTIVE, meter__client__status=Client.Status.ACTIVE)
            .annotate(month=month).values("month", zone_id=F("meter__client__zone_id"))
            .annotate(n=Count("meter_id", distinct=True)).order_by())
    ReadCell.objects.bulk_create(ReadCell(period=_period(r["month"]), zone_id=r["zone_id"], meters=r["n"]) for r in read)
    status = Reading.Status
    captured = (Reading.objects.annotate(month=month).values("month", "recorded_by_id")
                .annotate(n=Count("pk"), ok=Count("pk", filter=Q(status=status.ACCEPTED)),
                          flagged=Count("pk", filter=Q(status=status.FLAGGED)),
                          rejected=Count("pk", filter=Q(status=status.REJECTED))).order_by())
    ReaderCell.objects.bulk_create(
        ReaderCell(period=_period(r["month"]), user_id=r["recorded_by_id"], readings=r["n"], accepted=r["ok"],
                   flagged=r["flagged"], rejected=r["rejected"]) for r in captured)


def _connections() -> None:
    metered = Exists(Meter.objects.filter(client=OuterRef("pk"), status=Meter.Status.ACTIVE))
    rows = Client.objects.annotate(metered=metered).values("status", "metered").annotate(n=Count("pk")).order_by()
    ConnectionCell.objects.bulk_create(ConnectionCell(status=r["status"], metered=r["metered"], clients=r["n"])
                                       for r in rows)


_ZERO = f"""
    INSERT INTO {ZeroMeter._meta.db_table} (period, meter_id, client_id)
    SELECT mm.period, mm.meter_id, m.client_id
    FROM ({_METER_MONTHS}) mm JOIN ({METERS}) m ON m.id = mm.meter_id JOIN ({CLIENTS}) c ON c.id = m.client_id
    WHERE mm.consumption = 0"""  # noqa: S608 - our fragments


def _billed() -> None:
    estimated = Q(estimated=True)
    rows = (Invoice.objects.filter(status=Invoice.Status.ISSUED)
            .values("period", "category_id", zone_id=F("client__zone_id"))
            .annotate(n=Count("pk"), kes=Sum("total"), m3=Sum("consumption"), n_est=Count("pk", filter=estimated),
                      m3_est=Sum("consumption", filter=estimated, default=0))
            .order_by())
    BilledCell.objects.bulk_create(
        BilledCell(period=r["period"], category_id=r["category_id"], zone_id=r["zone_id"], invoices=r["n"],
                   total=r["kes"], consumption=r["m3"], estimated_invoices=r["n_est"],
                   estimated_consumption=r["m3_est"]) for r in rows)
    lines = (InvoiceLine.objects.filter(invoice__status=Invoice.Status.ISSUED)
             .values("kind", period=F("invoice__period"), category_id=F("invoice__category_id"))
             .annotate(n=Count("pk"), kes=Sum("amount")).order_by())
    BilledLine.objects.bulk_create(BilledLine(period=r["period"], category_id=r["category_id"], kind=r["kind"],
                                              lines=r["n"], amount=r["kes"]) for r in lines)
    top = (Invoice.objects.filter(status=Invoice.Status.ISSUED, consumption__gt=0)
           .annotate(rank=Window(RowNumber(), partition_by=F("period"), order_by=[F("consumption").desc(), F("id")]))
           .filter(rank__lte=TOP).values("period", "rank", "client_id", "consumption", invoice_id=F("pk")))
    TopConsumer.objects.bulk_create(TopConsumer(**r) for r in top)


def _payments() -> None:
    rows = (Payment.objects.values("method", "status", day=TruncDate("paid_at", tzinfo=NAIROBI))
            .annotate(n=Count("pk"), kes=Sum("amount")).order_by())
    PaymentDay.objects.bulk_create(PaymentDay(day=r["day"], method=r["method"], status=r["status"], payments=r["n"],
                                              amount=r["kes"]) for r in rows)


def _inputs() -> None:
    """Each zone's system input per month, from its first bulk meter's installation (at most
    INPUT_MONTHS back) to this month."""
    since = min(bulk_zones().values(), default=None)
    if since is None:
        return
    this = month_first(timezone.localdate())
    first = max(month_first(since), add_months(this, -(INPUT_MONTHS - 1)))
    periods = []
    while first <= this:
        periods.append(period_of(first))
        first = add_months(first, 1)
    InputCell.objects.bulk_create(InputCell(zone_id=zone_id, period=period, consumption=m3)
                                  for (zone_id, period), m3 in system_input(periods).items())


def _outermost() -> bool:
    """Whether the refresh's transaction is a transaction of its own (not a savepoint of a caller's,
    as in a test), so it can ask for one snapshot."""
    return len(connection.atomic_blocks) == 1


def figures_refresh(*, wait: bool = True) -> Refresh | None:
    """Rebuild every figure now. With `wait=False`, give up at once (None) when another refresh
    of this provider is running. The out-of-date mark is cleared first, in its own transaction, so
    a write committed while this runs marks the figures out of date again (never lost)."""
    Stale.objects.all().delete()
    started = monotonic()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if _outermost():
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if wait:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            else:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_KEY])
                if not cursor.fetchone()[0]:
                    Stale.objects.get_or_create(pk=1)
                    return None
            for model in TABLES:
                cursor.execute(f"DELETE FROM {model._meta.db_table}")  # noqa: S608 - our tables
            _billed()
            _payments()
            cursor.execute(_USAGE)
            cursor.execute(_ZERO)
            cursor.execute(_POSITIONS)
            cursor.execute(_AGING)
            cursor.execute(_ROUND)
            cursor.execute(_ROUND_CELLS)
            _readings()
            _connections()
            _inputs()
            state = Refresh.load()
            state.refreshed_at, state.seconds, state.queued_at = timezone.now(), monotonic() - started, None
            state.save()
    except Exception:
        Stale.objects.get_or_create(pk=1)
        raise
    log.info("Report figures refreshed in %.2f s", state.seconds)
    return state
