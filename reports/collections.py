"""The collections report's figures, read from reports.models.PaymentDay and BilledCell (a few
hundred rows whatever the provider's size): billed vs collected per month, payments by method per
month and by day, and the payments that did not count (unmatched, reversed, refunded).

Collected means what reports.refresh and payments.selectors define once: payments received in the
Nairobi calendar month whose status is in COLLECTED_STATUSES (matched or waiting in
reconciliation), never reversed or refunded ones."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from payments.models import Payment
from payments.selectors import (
    COLLECTED_STATUSES,
    ZERO,
    add_months,
    month_bounds,
    period_first,
    period_of,
)
from reports.models import PaymentDay

# The payments that are not collections, in the order the page shows them.
EXCEPTION_STATUSES = (Payment.Status.UNMATCHED, Payment.Status.REVERSED, Payment.Status.REFUNDED)
EXCEPTION_NOTES = {
    Payment.Status.UNMATCHED: "in the account, no client found yet (counted as collected)",
    Payment.Status.REVERSED: "recorded in error and reversed (not collected)",
    Payment.Status.REFUNDED: "given back to the payer (not collected)",
}
METHODS = tuple(Payment.Method)


@dataclass
class MethodMonth:
    """A month's collected payments by method (every method, 0 where none)."""

    period: str
    amounts: dict[str, Decimal] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return period_first(self.period).strftime("%b %Y")

    @property
    def total(self) -> Decimal:
        return sum(self.amounts.values(), ZERO)

    @property
    def payments(self) -> int:
        return sum(self.counts.values())

    def cells(self) -> list[tuple[str, int, Decimal]]:
        """(method label, count, amount) per method, in METHODS' order (for the page's table)."""
        return [(str(m.label), self.counts[m], self.amounts[m]) for m in METHODS]


def _window(periods: list[str]) -> tuple[date, date]:
    """[first day of the first period, first day after the last one)."""
    return period_first(periods[0]), add_months(period_first(periods[-1]), 1)


def by_method(periods: list[str]) -> list[MethodMonth]:
    """Collected per month and method for the consecutive `periods` (oldest first; one query)."""
    start, end = _window(periods)
    rows = (PaymentDay.objects.filter(status__in=COLLECTED_STATUSES, day__gte=start, day__lt=end)
            .annotate(month=TruncMonth("day")).values("month", "method")
            .annotate(n=Sum("payments"), kes=Sum("amount")).order_by())
    months = {p: MethodMonth(p, dict.fromkeys(METHODS, ZERO), dict.fromkeys(METHODS, 0)) for p in periods}
    for r in rows:
        m = months[period_of(r["month"])]
        m.amounts[r["method"]] = r["kes"]
        m.counts[r["method"]] = r["n"]
    return list(months.values())


@dataclass
class Day:
    day: date
    payments: int = 0
    amount: Decimal = ZERO


def by_day(period: str) -> list[Day]:
    """Collected on each day of the month `period` (every day, 0 where none; one query). This
    month's stop at today: the days to come are not days with nothing collected."""
    first = period_first(period)
    last = min(calendar.monthrange(first.year, first.month)[1],
               timezone.localdate().day if period_of(timezone.localdate()) == period else 31)
    days = {first.replace(day=d): Day(first.replace(day=d)) for d in range(1, last + 1)}
    rows = (PaymentDay.objects.filter(status__in=COLLECTED_STATUSES, day__gte=first, day__lt=add_months(first, 1))
            .values("day").annotate(n=Sum("payments"), kes=Sum("amount")).order_by())
    for r in rows:
        days[r["day"]].payments, days[r["day"]].amount = r["n"], r["kes"]
    return list(days.values())


@dataclass
class StatusRow:
    status: str
    payments: int = 0
    amount: Decimal = ZERO

    @property
    def label(self) -> str:
        return str(Payment.Status(self.status).label)

    @property
    def note(self) -> str:
        return EXCEPTION_NOTES[Payment.Status(self.status)]


def exceptions(periods: list[str]) -> list[StatusRow]:
    """Unmatched, reversed and refunded payments received in `periods` (by the day they were
    paid, their status now; one query)."""
    start, end = _window(periods)
    rows = (PaymentDay.objects.filter(status__in=EXCEPTION_STATUSES, day__gte=start, day__lt=end)
            .values("status").annotate(n=Sum("payments"), kes=Sum("amount")).order_by())
    found = {r["status"]: r for r in rows}
    return [StatusRow(s, found[s]["n"], found[s]["kes"]) if s in found else StatusRow(s) for s in EXCEPTION_STATUSES]


def exception_payments(periods: list[str], status: str = "") -> QuerySet[Payment]:
    """The payments behind `exceptions` (the drill-down, newest first): read through the partial
    index of payments not simply matched, for paging."""
    start, end = month_bounds(period_first(periods[0]))[0], month_bounds(period_first(periods[-1]))[1]
    statuses = [status] if status in EXCEPTION_STATUSES else list(EXCEPTION_STATUSES)
    return (Payment.objects.exclude(status=Payment.Status.MATCHED)  # the partial index payment_not_matched
            .filter(status__in=statuses, paid_at__gte=start, paid_at__lt=end)
            .select_related("client").order_by("-paid_at", "-id")
            .only("receipt", "paid_at", "method", "status", "amount", "account_reference",
                  "client__account_number", "client__full_name"))
