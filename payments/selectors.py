"""Payments' part of money at a glance: the months and periods the figures are counted in, which
payments count as collected, what waits in reconciliation, and how far a new provider has come in
setting up. The figures themselves (billed, collected, owed and how old) are made and read by the
reports app (reports.refresh defines them, reports.figures reads them): the dashboard's home, the
report pages and `GET /reports/summary/` (shared/API.md) all show the same ones.

Definitions (as in shared/API.md):
- billed for a period `YYYY-MM`: the total of that period's issued invoices (drafts are not bills);
- collected in a month: the payments received in that calendar month, Nairobi time: matched ones
  and those still waiting in reconciliation (the money is in the provider's account either way);
  not those reversed (recorded in error) or refunded (given back);
- collection efficiency: collected / billed, 4 decimals (None when nothing was billed);
- arrears: every client's positive ledger balance today, split by how long past due the oldest
  unpaid bill of each is (billing.sql.CLIENT_POSITIONS; reports.figures.aging)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils.formats import date_format

from billing.models import BillingRun
from payments.models import Payment

NAIROBI = ZoneInfo("Africa/Nairobi")
ZERO = Decimal("0.00")
# Money received: matched, or in the provider's account waiting for reconciliation.
COLLECTED_STATUSES = (Payment.Status.MATCHED, Payment.Status.UNMATCHED)


# --- months and periods --------------------------------------------------------------------------
def month_first(day: date) -> date:
    return date(day.year, day.month, 1)


def add_months(first: date, n: int) -> date:
    index = first.year * 12 + first.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def period_of(first: date) -> str:
    return f"{first.year:04d}-{first.month:02d}"


def period_first(period: str) -> date:
    return date(int(period[:4]), int(period[5:7]), 1)


def period_label(period: str) -> str:
    """`2026-11` → `November 2026`."""
    return date_format(period_first(period), "F Y")  # the reader's language


def month_bounds(first: date) -> tuple[datetime, datetime]:
    """The month starting `first` as [start, end) instants, Nairobi time."""
    return (datetime.combine(first, time.min, tzinfo=NAIROBI),
            datetime.combine(add_months(first, 1), time.min, tzinfo=NAIROBI))


def efficiency(billed: Decimal, collected: Decimal) -> Decimal | None:
    """collected / billed, 4 decimals; None when nothing was billed."""
    if not billed:
        return None
    return (collected / billed).quantize(Decimal("0.0001"))


def as_percent(ratio: Decimal | None) -> Decimal | None:
    """0.8462 → 84.6 (per cent, one decimal)."""
    return None if ratio is None else (ratio * 100).quantize(Decimal("0.1"))


# --- a month's figures (reports.figures reads them from its tables) ---------------------------
@dataclass
class MonthFigures:
    """A month's billed and collected (see period_summary for the definitions)."""

    period: str  # YYYY-MM
    billed: Decimal
    collected: Decimal

    @property
    def label(self) -> str:
        """`Nov 2026`."""
        return date_format(period_first(self.period), "M Y")

    @property
    def efficiency(self) -> Decimal | None:
        return efficiency(self.billed, self.collected)

    @property
    def efficiency_percent(self) -> Decimal | None:
        return as_percent(self.efficiency)


@dataclass
class PeriodSummary(MonthFigures):
    @property
    def label(self) -> str:
        """`November 2026`."""
        return period_label(self.period)


# --- unmatched ---------------------------------------------------------------------------------
@dataclass
class Unmatched:
    count: int
    amount: Decimal


# --- the set-up checklist --------------------------------------------------------------------------
@dataclass
class Step:
    key: str
    title: str
    done: bool
    how: str  # what to do, shown while not done
    url_name: str | None = None  # where it is done
    capability: str | None = None  # who may open that page
    query: str = ""


@dataclass
class Checklist:
    steps: list[Step] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(s.done for s in self.steps)

    @property
    def complete(self) -> bool:
        return all(s.done for s in self.steps)


def onboarding_checklist() -> Checklist:
    """What a new provider has set up, in three queries (the settings rows are read, never
    created, here)."""
    from accounts.models import STAFF_ROLES, StaffInvite, User
    from billing.models import Tariff
    from clients.models import Client, Zone
    from meters.models import Meter
    from notifications.models import NotificationSettings
    from payments.models import PaymentSettings

    # One query; each subquery is the ORM's SQL of its app's model (no table is named here).
    exists, count = "EXISTS ({})", "(SELECT count(*) FROM ({}) s)"
    checks = [(exists, Zone.objects.all()), (exists, Tariff.objects.all()), (exists, Client.objects.all()),
              (exists, Meter.objects.all()), (exists, BillingRun.objects.filter(status=BillingRun.Status.FINALIZED)),
              (count, User.objects.filter(is_active=True, role__in=sorted(STAFF_ROLES))),
              (exists, StaffInvite.objects.filter(revoked_at__isnull=True))]
    compiled = [(shape, qs.order_by().values("pk").query.sql_with_params()) for shape, qs in checks]
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(shape.format(sql) for shape, (sql, _) in compiled),  # noqa: S608 - the ORM's SQL; values bound
                       [p for _, (_, params) in compiled for p in params])
        zones, tariff, clients, meters, billed, staff, invited = cursor.fetchone()
    sms = NotificationSettings.objects.filter(pk=1).first()
    mpesa = PaymentSettings.objects.filter(pk=1).first()
    return Checklist([
        Step("zones", "Create zones (meter-reading routes)", zones,
             "Zones group clients into the routes your meter readers walk.", "register_settings", "clients.manage"),
        Step("tariff", "Set your tariff", tariff,
             "Block bands, fixed charge, meter rent and sewerage for each category.", "tariff_new",
             "billing.manage_tariffs"),
        Step("clients", "Register your clients and their meters", clients and meters,
             "Import a spreadsheet or add them one by one, each with a meter."
             if not clients else "Your clients are in; add a meter to each one from its page.",
             "client_import" if not clients else "client_list", "clients.manage"),
        Step("sms", "Set up SMS", bool(sms and sms.sms_ready),
             "Your Africa's Talking username and API key, so bills and receipts reach clients by SMS.",
             "notification_settings", "settings.manage"),
        Step("mpesa", "Set up M-Pesa", bool(mpesa and mpesa.mpesa_ready),
             "Your paybill or till and Daraja keys, so clients pay from their phones and payments match themselves.",
             "payment_settings", "settings.manage"),
        Step("billing", "Finalise your first billing run", billed,
             "Capture the month's readings, preview the bills, then finalise: bills go out by SMS and email.",
             "run_list", "billing.run"),
        # Ticked by a second active staff user or an invitation sent (and not withdrawn).
        Step("staff", "Invite your staff", staff > 1 or invited,
             "Give your meter readers and accountant their own logins (Settings → Team).", "staff_team",
             "staff.manage"),
    ])
