from __future__ import annotations

from datetime import date

from billing.models import Tariff
from billing.tariffs import Band, TariffTerms


def tariff_in_force(category_id: int, on: date) -> Tariff | None:
    """The version of a category's tariff in force on `on` (the latest that started by then)."""
    return (Tariff.objects.filter(category_id=category_id, effective_from__lte=on)
            .prefetch_related("blocks").order_by("-effective_from").first())


def terms_of(tariff: Tariff) -> TariffTerms:
    return TariffTerms(
        bands=[Band(up_to=b.up_to, price=b.price) for b in tariff.blocks.all()],
        fixed_charge=tariff.fixed_charge, meter_rent=tariff.meter_rent,
        sewerage_percent=tariff.sewerage_percent, minimum_charge=tariff.minimum_charge)
