"""When a payment was made: the dates a payment may carry, in Nairobi time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

NAIROBI = ZoneInfo("Africa/Nairobi")

# A payment dated outside these bounds is a typing or a payload error, never a payment: refused
# (manual payments) or not believed (callbacks). Far outside them (year 1) a date cannot even be
# shown in Nairobi time, and one stored would break every page and PDF that lists it.
EARLIEST_PAYMENT = datetime(2000, 1, 1, tzinfo=NAIROBI)
LATEST_AHEAD = timedelta(days=365)


def payment_time_plausible(moment: datetime, now: datetime | None = None) -> bool:
    return EARLIEST_PAYMENT <= moment <= (now or timezone.now()) + LATEST_AHEAD


def payment_plausible_or_now(moment: datetime | None) -> datetime:
    """A provider's own time of a payment (Paystack's paid_at), or now when it has none that can
    be believed: the money is real, its time is only what the provider said."""
    now = timezone.now()
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)  # Paystack writes UTC
    return moment if moment is not None and payment_time_plausible(moment, now) else now
