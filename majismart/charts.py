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


def bar_chart(points: Sequence[tuple[str, Decimal | None]], unit: str = "m³") -> dict[str, object]:
    values = [v or Decimal(0) for _, v in points]
    top = max(values, default=Decimal(0)) or Decimal(1)
    n = max(len(points), 1)
    slot = WIDTH / n
    usable = HEIGHT - PAD_TOP - PAD_BOTTOM
    bars = []
    for i, ((label, _), value) in enumerate(zip(points, values, strict=True)):
        h = float(value / top) * usable
        bars.append(Bar(x=i * slot + slot * 0.15, y=PAD_TOP + usable - h, width=slot * 0.7, height=h,
                        label=label, value=f"{value:.1f}"))
    return {"bars": bars, "width": WIDTH, "height": HEIGHT, "baseline": HEIGHT - PAD_BOTTOM,
            "label_y": HEIGHT - 8, "unit": unit, "max": f"{top:.1f}", "empty": not any(values)}
