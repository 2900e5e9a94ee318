"""Demo billing for `seed_demo`: tariffs for the default categories, the billing rules and the
last three complete months billed and issued (once per provider)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

D = Decimal
# Illustrative block tariffs in the shape Kenyan utilities publish (shared/reference/kenya-water.md).
DEMO_TARIFFS = {
    "domestic": {"blocks": [(D(6), D("53.00")), (D(20), D("63.00")), (D(50), D("80.00")), (None, D("95.00"))],
                 "fixed_charge": D("100.00"), "meter_rent": D("50.00"), "sewerage_percent": D("0"),
                 "minimum_charge": D("318.00")},
    "commercial": {"blocks": [(D(50), D("90.00")), (None, D("110.00"))], "fixed_charge": D("200.00"),
                   "meter_rent": D("100.00"), "sewerage_percent": D("75"), "minimum_charge": D("500.00")},
    "institutional": {"blocks": [(None, D("85.00"))], "fixed_charge": D("300.00"), "meter_rent": D("100.00"),
                      "sewerage_percent": D("75"), "minimum_charge": D("0")},
    "kiosk": {"blocks": [(None, D("40.00"))], "fixed_charge": D("0"), "meter_rent": D("50.00"),
              "sewerage_percent": D("0"), "minimum_charge": D("0")},
}


def seed_billing(months: int = 3) -> None:
    from billing.models import BillingRun, BillingSettings, Tariff
    from billing.runs import billing_run_finalize, billing_run_start
    from billing.services import tariff_create
    from clients.models import Category

    if Tariff.objects.exists() or BillingRun.objects.exists():
        return
    today = timezone.localdate()
    start = date(today.year - 1, 1, 1)
    for category in Category.objects.filter(code__in=DEMO_TARIFFS):
        spec = dict(DEMO_TARIFFS[category.code])
        tariff_create(actor="seed_demo", blocks=spec.pop("blocks"), code=f"{category.code}-{start.year}",
                      name=f"{category.name} {start.year}", category=category, effective_from=start, **spec)
    rules = BillingSettings.load()
    rules.penalty_percent, rules.penalty_grace_days = D("2.00"), 7
    rules.save()
    first = today.replace(day=1)
    periods = []
    for _ in range(months):
        first = (first - timedelta(days=1)).replace(day=1)
        periods.append(f"{first.year:04d}-{first.month:02d}")
    for period in reversed(periods):
        run, _ = billing_run_start(period=period, actor="seed_demo")
        billing_run_finalize(run=run, actor="seed_demo")
