from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from meters.models import Reading
from meters.validation import NAIROBI


def monthly_consumption(meter_ids: Sequence[int], months: int = 12) -> list[tuple[str, Decimal | None]]:
    """Accepted consumption per calendar month (Nairobi), the last `months` months, oldest first."""
    today = timezone.localdate()
    first = date(today.year, today.month, 1)
    for _ in range(months - 1):
        first = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    rows = (Reading.objects.filter(meter_id__in=meter_ids, status=Reading.Status.ACCEPTED,
                                   read_at__date__gte=first)
            .annotate(month=TruncMonth("read_at", tzinfo=NAIROBI)).values("month")
            .annotate(total=Sum("consumption")).order_by("month"))
    totals = {(r["month"].year, r["month"].month): r["total"] for r in rows}
    out = []
    y, m = first.year, first.month
    for _ in range(months):
        out.append((date(y, m, 1).strftime("%b"), totals.get((y, m))))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out
