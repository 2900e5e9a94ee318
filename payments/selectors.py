"""Money at a glance: what was billed and collected, what is owed and overdue, what waits in
reconciliation, and how far a new provider has come in setting up. The dashboard's home shows
these; a reports page and `GET /reports/summary/` (shared/API.md) read the same functions, so a
figure is the same wherever it is shown.

Definitions (as in shared/API.md):
- billed for a period `YYYY-MM`: the total of that period's issued invoices (drafts are not bills);
- collected in a month: the payments received in that calendar month, Nairobi time: matched ones
  and those still waiting in reconciliation (the money is in the provider's account either way);
  not those reversed (recorded in error) or refunded (given back);
- collection efficiency: collected / billed, 4 decimals (None when nothing was billed);
- owed: every client's positive ledger balance today (billing.selectors.client_balance, summed);
- overdue: of that, what is still unpaid on invoices past their due date, as the invoice list
  counts it (billing.selectors.invoices_with_dues: payments settle the oldest invoices first).

Payments is the top of the money chain (billing and meters below it), so these live here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from billing.models import BillingRun, Invoice
from billing.selectors import owed_totals
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
    return period_first(period).strftime("%B %Y")


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


# --- billed and collected ------------------------------------------------------------------------
def billed_by_period(periods: list[str]) -> dict[str, Decimal]:
    rows = (Invoice.objects.filter(status=Invoice.Status.ISSUED, period__in=periods)
            .values("period").annotate(total=Sum("total")).order_by())
    return {r["period"]: r["total"] for r in rows}


def collected_by_month(start: date, end: date) -> dict[str, Decimal]:
    """Payments received from the month starting `start` up to (not including) the month
    starting `end`, per calendar month (Nairobi) as `YYYY-MM`."""
    rows = (Payment.objects.filter(status__in=COLLECTED_STATUSES, paid_at__gte=month_bounds(start)[0],
                                   paid_at__lt=month_bounds(end)[0])
            .annotate(month=TruncMonth("paid_at", tzinfo=NAIROBI)).values("month")
            .annotate(total=Sum("amount")).order_by())
    return {period_of(r["month"].date() if isinstance(r["month"], datetime) else r["month"]): r["total"] for r in rows}


@dataclass
class MonthFigures:
    """A month's billed and collected (see period_summary for the definitions)."""

    period: str  # YYYY-MM
    billed: Decimal
    collected: Decimal

    @property
    def label(self) -> str:
        """`Nov 2026`."""
        return period_first(self.period).strftime("%b %Y")

    @property
    def efficiency(self) -> Decimal | None:
        return efficiency(self.billed, self.collected)

    @property
    def efficiency_percent(self) -> Decimal | None:
        return as_percent(self.efficiency)


def billed_vs_collected(months: int = 12, *, today: date | None = None) -> list[MonthFigures]:
    """The last `months` calendar months up to this one, oldest first (two queries)."""
    last = month_first(today or timezone.localdate())
    first = add_months(last, -(months - 1))
    periods = [period_of(add_months(first, i)) for i in range(months)]
    billed = billed_by_period(periods)
    collected = collected_by_month(first, add_months(last, 1))
    return [MonthFigures(p, billed.get(p, ZERO), collected.get(p, ZERO)) for p in periods]


def latest_billing_period(*, today: date | None = None) -> str:
    """The period of the latest finalised billing run; this month when nothing was billed yet."""
    period = (BillingRun.objects.filter(status=BillingRun.Status.FINALIZED).order_by("-period")
              .values_list("period", flat=True).first())
    return period or period_of(month_first(today or timezone.localdate()))


@dataclass
class PeriodSummary(MonthFigures):
    @property
    def label(self) -> str:
        """`November 2026`."""
        return period_label(self.period)


def period_summary(period: str, *, months: list[MonthFigures] | None = None) -> PeriodSummary:
    """Billed for `period` and collected in that calendar month; read from `months` (the chart's
    figures) when the period is among them, otherwise two queries."""
    for m in months or []:
        if m.period == period:
            return PeriodSummary(period, m.billed, m.collected)
    first = period_first(period)
    return PeriodSummary(period, billed_by_period([period]).get(period, ZERO),
                         collected_by_month(first, add_months(first, 1)).get(period, ZERO))


# --- owed, overdue, unmatched -------------------------------------------------------------------
@dataclass
class Owed:
    total: Decimal  # every positive client balance, summed
    overdue: Decimal  # of it, unpaid on invoices past their due date
    clients: int  # clients who owe something


def amounts_owed(*, today: date | None = None) -> Owed:
    """One query (billing.selectors.owed_totals): every positive client balance and, of it, what
    is overdue - the sum of `balance_due` over the invoice list's overdue invoices."""
    clients, total, overdue = owed_totals(today=today or timezone.localdate())
    return Owed(total=total.quantize(ZERO), overdue=overdue.quantize(ZERO), clients=clients)


@dataclass
class Unmatched:
    count: int
    amount: Decimal


def unmatched_payments() -> Unmatched:
    """Payments waiting in reconciliation (no client found for them), however old."""
    row = Payment.objects.filter(status=Payment.Status.UNMATCHED).aggregate(n=Count("pk"), s=Sum("amount"))
    return Unmatched(count=row["n"], amount=row["s"] or ZERO)


# --- the home page's money panel ------------------------------------------------------------------
@dataclass
class MoneyAtAGlance:
    summary: PeriodSummary  # the latest billing period
    this_month: MonthFigures  # the calendar month so far
    months: list[MonthFigures]  # the last 12 months, oldest first
    owed: Owed
    unmatched: Unmatched


def money_at_a_glance(*, today: date | None = None) -> MoneyAtAGlance:
    """Everything the home page shows about money, in five queries."""
    today = today or timezone.localdate()
    months = billed_vs_collected(12, today=today)
    return MoneyAtAGlance(summary=period_summary(latest_billing_period(today=today), months=months),
                          this_month=months[-1], months=months, owed=amounts_owed(today=today),
                          unmatched=unmatched_payments())


# --- onboarding -------------------------------------------------------------------------------------
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
