"""Small server-rendered SVG bar charts: no JavaScript, no CDN, readable on a phone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

WIDTH, HEIGHT, PAD_TOP, PAD_BOTTOM = 600, 220, 16, 28


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str


def bar_chart(points: Sequence[tuple[str, Decimal | None]], unit: str = "m³", *, height: int = HEIGHT) -> dict[str, object]:
    """Bars in a WIDTH x height view box (a lower one for a printed page)."""
    values = [v or Decimal(0) for _, v in points]
    top = max(values, default=Decimal(0)) or Decimal(1)
    n = max(len(points), 1)
    slot = WIDTH / n
    usable = height - PAD_TOP - PAD_BOTTOM
    bars = []
    for i, ((label, _), value) in enumerate(zip(points, values, strict=True)):
        h = float(value / top) * usable
        bars.append(Bar(x=i * slot + slot * 0.15, y=PAD_TOP + usable - h, width=slot * 0.7, height=h,
                        label=label, value=f"{value:.1f}"))
    return {"bars": bars, "width": WIDTH, "height": height, "baseline": height - PAD_BOTTOM,
            "label_y": height - 8, "unit": unit, "max": f"{top:.1f}", "empty": not any(values)}
