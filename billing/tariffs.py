"""The tariff maths: graduated increasing blocks, a minimum charge, sewerage, fixed charge and
meter rent. Every line is rounded half-up to cents; the total is the sum of the lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Band:
    up_to: Decimal | None  # m³; None for the last, open band
    price: Decimal  # KES per m³


@dataclass(frozen=True)
class TariffTerms:
    bands: Sequence[Band]
    fixed_charge: Decimal = ZERO
    meter_rent: Decimal = ZERO
    sewerage_percent: Decimal = ZERO
    minimum_charge: Decimal = ZERO


@dataclass(frozen=True)
class Line:
    kind: str  # water, minimum, sewerage, fixed, meter_rent
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass
class Charge:
    volume: Decimal
    lines: list[Line] = field(default_factory=list)

    @property
    def volumetric(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.kind in ("water", "minimum")), ZERO)

    @property
    def total(self) -> Decimal:
        return sum((ln.amount for ln in self.lines), ZERO)


def _fmt(v: Decimal) -> str:
    return f"{v.normalize():f}" if v == v.to_integral() else f"{v:f}"


def charge_for(terms: TariffTerms, volume: Decimal) -> Charge:
    """What `volume` m³ costs under `terms` for one period."""
    if volume < 0:
        raise ValueError("volume cannot be negative")
    result = Charge(volume=volume)
    lower = Decimal("0")
    for band in terms.bands:
        if volume <= lower:
            break
        top = volume if band.up_to is None else min(volume, band.up_to)
        used = top - lower
        if used > 0:
            label = f"Water {_fmt(lower)}–{_fmt(band.up_to)} m³" if band.up_to is not None else f"Water above {_fmt(lower)} m³"
            result.lines.append(Line("water", label, used, band.price, money(used * band.price)))
        if band.up_to is None:
            break
        lower = band.up_to
    water = sum((ln.amount for ln in result.lines), ZERO)
    if water < terms.minimum_charge:
        # The minimum charge is the floor of the volumetric charge: the shortfall is its own line.
        result.lines.append(Line("minimum", "Minimum charge top-up", Decimal("1"), terms.minimum_charge - water,
                                 money(terms.minimum_charge - water)))
    if terms.sewerage_percent > 0:
        base = result.volumetric
        share = terms.sewerage_percent / 100
        result.lines.append(Line("sewerage", f"Sewerage {_fmt(terms.sewerage_percent)}% of water charge",
                                 share, base, money(base * share)))
    if terms.fixed_charge > 0:
        result.lines.append(Line("fixed", "Fixed charge", Decimal("1"), terms.fixed_charge, money(terms.fixed_charge)))
    if terms.meter_rent > 0:
        result.lines.append(Line("meter_rent", "Meter rent", Decimal("1"), terms.meter_rent, money(terms.meter_rent)))
    return result
