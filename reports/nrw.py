"""Non-revenue water: what went into a zone's pipes (its bulk meters' readings: the system input)
less what its clients were billed for, per zone and in total. The system input is handed in
(meters.selectors.system_input makes it from bulk meters, kept as InputCell at each refresh);
billed consumption is BilledCell's: what the zone's clients were billed for that period."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from reports.models import BilledCell, InputCell

M3_ZERO = Decimal("0.000")


@dataclass
class ZoneNRW:
    zone_id: int | None
    system_input: Decimal
    billed: Decimal

    @property
    def nrw(self) -> Decimal:
        return self.system_input - self.billed

    @property
    def percent(self) -> Decimal | None:
        """NRW as a share of the system input, per cent to one decimal."""
        if not self.system_input:
            return None
        return (self.nrw * 100 / self.system_input).quantize(Decimal("0.1"))


@dataclass
class NRWFigures:
    zones: list[ZoneNRW]

    @property
    def system_input(self) -> Decimal:
        return sum((z.system_input for z in self.zones), M3_ZERO)

    @property
    def billed(self) -> Decimal:
        return sum((z.billed for z in self.zones), M3_ZERO)

    @property
    def nrw(self) -> Decimal:
        return self.system_input - self.billed

    @property
    def percent(self) -> Decimal | None:
        return ZoneNRW(None, self.system_input, self.billed).percent


def nrw_for(periods: list[str], system_input: dict[tuple[int | None, str], Decimal]) -> NRWFigures | None:
    """NRW over `periods` for the zones measured: `system_input` maps (zone id, period) to the m³
    that went in; a zone's billed consumption counts for the periods it was measured only (a zone
    without bulk meters has no NRW to tell). None when nothing was measured (no bulk meters)."""
    measured = {key: m3 for key, m3 in system_input.items() if key[1] in periods}
    if not measured:
        return None
    rows = (BilledCell.objects.filter(period__in={p for _, p in measured})
            .values("zone_id", "period").annotate(m3=Sum("consumption")).order_by())
    billed = {(r["zone_id"], r["period"]): r["m3"] for r in rows}
    zones: dict[int | None, ZoneNRW] = {}
    for (zone_id, period), m3 in measured.items():
        z = zones.setdefault(zone_id, ZoneNRW(zone_id, M3_ZERO, M3_ZERO))
        z.system_input += m3
        z.billed += billed.get((zone_id, period), M3_ZERO)
    return NRWFigures(sorted(zones.values(), key=lambda z: (z.zone_id is None, z.zone_id or 0)))


def nrw_by_period(periods: list[str], system_input: dict[tuple[int | None, str], Decimal]) -> dict[str, NRWFigures]:
    """nrw_for each of `periods` that was measured, in one query."""
    measured = {key: m3 for key, m3 in system_input.items() if key[1] in periods}
    rows = (BilledCell.objects.filter(period__in={p for _, p in measured})
            .values("zone_id", "period").annotate(m3=Sum("consumption")).order_by()) if measured else []
    billed = {(r["zone_id"], r["period"]): r["m3"] for r in rows}
    out: dict[str, NRWFigures] = {}
    for period in periods:
        zones = [ZoneNRW(zone_id, m3, billed.get((zone_id, p), M3_ZERO))
                 for (zone_id, p), m3 in measured.items() if p == period]
        if zones:
            out[period] = NRWFigures(sorted(zones, key=lambda z: (z.zone_id is None, z.zone_id or 0)))
    return out


def kept_input(periods: list[str]) -> dict[tuple[int | None, str], Decimal]:
    """The system input kept at the last refresh, keyed as meters.selectors.system_input."""
    return {(r.zone_id, r.period): r.consumption for r in InputCell.objects.filter(period__in=periods)}
