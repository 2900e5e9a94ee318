"""Demo billing for `seed_demo`: tariffs for the default categories and the billing rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

D = Decimal
# Illustrative block tariffs in the shape Kenyan utilities publish (shared/reference/kenya-water.md).
DEMO_TARIFFS: dict[str, dict[str, Any]] = {
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


def seed_tariffs(start: date) -> None:
    """The demo's tariffs, in force from `start`, its billing rules and its fee catalogue (once per
    provider). Its bills are issued month by month by web.demo_year, through the billing run."""
    from billing.fees import fees_seed_starter
    from billing.models import BillingSettings, Tariff
    from billing.services import tariff_create
    from clients.models import Category

    fees_seed_starter(actor="seed_demo")  # the starter catalogue: connection, reconnection, ... deposit
    if Tariff.objects.exists():
        return
    for category in Category.objects.filter(code__in=DEMO_TARIFFS):
        spec = dict(DEMO_TARIFFS[category.code])
        tariff_create(actor="seed_demo", blocks=spec.pop("blocks"), code=f"{category.code}-{start.year}",
                      name=f"{category.name} {start.year}", category=category, effective_from=start, **spec)
    rules = BillingSettings.load()
    rules.penalty_percent, rules.penalty_grace_days = D("2.00"), 7
    rules.save()
