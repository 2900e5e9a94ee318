"""Small server-rendered SVG bar charts: no JavaScript, no CDN, readable on a phone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

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


# --- grouped bars with labelled axes (money by month) --------------------------------------------
G_WIDTH, G_HEIGHT, G_LEFT, G_RIGHT, G_TOP, G_BOTTOM = 720, 290, 78, 8, 14, 56


def _amount(value: Decimal, unit: str) -> str:
    """`KES 1,440.00`, `59.0%`, `28.000 m³`: the unit where people put it."""
    if unit == "%":
        return f"{value:,.1f}%"
    if unit == "m³":
        return f"{value:,.3f} m³"
    return f"{unit} {value:,.2f}"


def nice_step(top: Decimal, ticks: int = 4) -> Decimal:
    """A round step (1, 2, 2.5 or 5 × a power of ten) so `ticks` steps reach at least `top`."""
    if top <= 0:
        return Decimal(1)
    raw = top / ticks
    power = Decimal(10) ** (len(str(int(raw))) - 1) if raw >= 1 else Decimal("0.01")
    for factor in (1, 2, Decimal("2.5"), 5, 10):
        if power * factor >= raw:
            return power * factor
    return power * 10


@dataclass
class GroupBar:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str

    def __post_init__(self) -> None:  # one decimal, formatted once here rather than by a template filter per use
        self.x, self.y = round(self.x, 1), round(self.y, 1)
        self.width, self.height = round(self.width, 1), round(self.height, 1)


@dataclass
class Tick:
    y: float
    label: str

    def __post_init__(self) -> None:  # one decimal, formatted once here rather than by a template filter per use
        self.y = round(self.y, 1)


@dataclass
class XLabel:
    x: float
    label: str

    def __post_init__(self) -> None:  # one decimal, formatted once here rather than by a template filter per use
        self.x = round(self.x, 1)


def grouped_bar_chart(labels: Sequence[str], series: Sequence[tuple[str, Sequence[Decimal]]], *,
                      unit: str = "KES", ticks: int = 4) -> dict[str, object]:
    """Bars side by side for each label (e.g. billed and collected for each month), a y axis with
    round ticks in `unit` and the labels under the x axis. Coordinates in a G_WIDTH × G_HEIGHT box
    (drawn with its aspect kept, so the text is never stretched)."""
    values = [v for _, vs in series for v in vs]
    top = max(values, default=Decimal(0))
    step = nice_step(top, ticks)
    axis_top = step * ticks
    plot_w, plot_h = G_WIDTH - G_LEFT - G_RIGHT, G_HEIGHT - G_TOP - G_BOTTOM
    baseline = G_TOP + plot_h
    slot = plot_w / max(len(labels), 1)
    bar_w = slot * 0.78 / max(len(series), 1)
    bars = []
    for s, (name, vs) in enumerate(series):
        for i, (label, value) in enumerate(zip(labels, vs, strict=True)):
            h = float(value / axis_top) * plot_h if axis_top else 0.0
            bars.append(GroupBar(x=G_LEFT + i * slot + slot * 0.11 + s * bar_w, y=baseline - h, width=bar_w, height=h,
                                 series=s, title=f"{label} · {name}: {_amount(value, unit)}"))
    tick_rows = [Tick(y=baseline - plot_h * k / ticks, label=f"{step * k:,.0f}") for k in range(ticks + 1)]
    return {"bars": bars, "ticks": tick_rows, "width": G_WIDTH, "height": G_HEIGHT, "left": G_LEFT,
            "right": G_WIDTH - G_RIGHT, "baseline": baseline, "top": G_TOP, "unit": unit,
            "x_labels": [XLabel(x=G_LEFT + i * slot + slot / 2, label=label) for i, label in enumerate(labels)],
            "label_y": baseline + 16, "year_dy": 13, "axis_title_y": G_HEIGHT - 4, "mid_x": round(G_LEFT + plot_w / 2, 1),
            "unit_x": 14, "unit_y": round(G_TOP + plot_h / 2, 1), "series": [name for name, _ in series],
            "empty": not any(values)}


# --- stacked bars with labelled axes (money owed by zone, by how long past due) ----------------
@dataclass
class StackedColumn:
    label: str  # shown under the x axis (shortened to fit)
    title: str  # the whole label, in the tooltip
    x: float
    total: str

    def __post_init__(self) -> None:  # one decimal, formatted once here rather than by a template filter per use
        self.x = round(self.x, 1)


def _short(label: str, size: int = 12) -> str:
    """The label cut to `size` characters (about what its slot under the axis holds, at 7 units a
    character): "Riverside route" whole under one of three bars, cut under one of twenty."""
    return label if len(label) <= size else label[: size - 1] + "…"


def stacked_bar_chart(labels: Sequence[str], series: Sequence[tuple[str, Sequence[Decimal]]], *,
                      unit: str = "KES", ticks: int = 4) -> dict[str, object]:
    """One bar per label with each series stacked on the one before (e.g. the aging buckets of
    each zone), a y axis with round ticks in `unit` and the labels (any text) under the x axis.
    Same box as grouped_bar_chart."""
    totals = [sum((vs[i] for _, vs in series), Decimal(0)) for i in range(len(labels))]
    step = nice_step(max(totals, default=Decimal(0)), ticks)
    axis_top = step * ticks
    plot_w, plot_h = G_WIDTH - G_LEFT - G_RIGHT, G_HEIGHT - G_TOP - G_BOTTOM
    baseline = G_TOP + plot_h
    slot = plot_w / max(len(labels), 1)
    bar_w = min(slot * 0.6, 90)
    bars, columns = [], []
    for i, label in enumerate(labels):
        x, stacked = G_LEFT + i * slot + (slot - bar_w) / 2, 0.0
        for s, (name, vs) in enumerate(series):
            h = float(vs[i] / axis_top) * plot_h
            if h > 0:
                bars.append(GroupBar(x=x, y=baseline - stacked - h, width=bar_w, height=h, series=s,
                                     title=f"{label} · {name}: {_amount(vs[i], unit)}"))
            stacked += h
        columns.append(StackedColumn(_short(label, max(8, int(slot / 7))), label, G_LEFT + i * slot + slot / 2, f"{totals[i]:,.2f}"))
    return {"bars": bars, "columns": columns, "width": G_WIDTH, "height": G_HEIGHT, "left": G_LEFT,
            "right": G_WIDTH - G_RIGHT, "baseline": baseline, "top": G_TOP, "unit": unit,
            "ticks": [Tick(y=baseline - plot_h * k / ticks, label=f"{step * k:,.0f}") for k in range(ticks + 1)],
            "label_y": baseline + 16, "axis_title_y": G_HEIGHT - 4, "mid_x": round(G_LEFT + plot_w / 2, 1),
            "unit_x": 14, "unit_y": round(G_TOP + plot_h / 2, 1), "series": [name for name, _ in series],
            "empty": not any(totals)}


def grouped_svg(chart: dict[str, Any], title: str, x_title: str = "") -> SafeString:
    """The SVG of a `grouped_bar_chart`, written here rather than by a template loop (a chart is
    hundreds of values; a page has up to four): every text escaped, coordinates as computed."""
    c, e = chart, escape
    out = [f'<svg viewBox="0 0 {c["width"]} {c["height"]}" role="img" data-testid="money-chart">\n'
           f'    <title>{e(title)} ({e(c["unit"])})</title>\n    ']
    out += [f'<line x1="{c["left"]}" x2="{c["right"]}" y1="{t.y}" y2="{t.y}" class="mchart-grid"/>\n'
            f'    <text x="{c["left"] - 6}" y="{t.y}" class="mchart-tick" text-anchor="end" '
            f'dominant-baseline="middle">{e(t.label)}</text>' for t in c["ticks"]]
    out.append(f'\n    <line x1="{c["left"]}" x2="{c["left"]}" y1="{c["top"]}" y2="{c["baseline"]}" class="mchart-axis"/>\n'
               f'    <line x1="{c["left"]}" x2="{c["right"]}" y1="{c["baseline"]}" y2="{c["baseline"]}" '
               f'class="mchart-axis"/>\n    ')
    out += [f'<rect x="{b.x}" y="{b.y}" width="{b.width}" height="{b.height}" class="mchart-s{b.series}">'
            f'<title>{e(b.title)}</title></rect>' for b in c["bars"]]
    out.append("\n    ")
    out += [f'<text x="{x.x}" y="{c["label_y"]}" class="mchart-lbl" text-anchor="middle" data-testid="chart-month">'
            f'<tspan>{e(x.label[:4])}</tspan><tspan x="{x.x}" dy="{c["year_dy"]}">{e(x.label[4:])}</tspan></text>'
            for x in c["x_labels"]]
    out.append(f'\n    <text x="{c["mid_x"]}" y="{c["axis_title_y"]}" class="mchart-title" text-anchor="middle">'
               f'{e(x_title or "Month")}</text>\n'
               f'    <text x="{c["unit_x"]}" y="{c["unit_y"]}" class="mchart-title" text-anchor="middle" '
               f'transform="rotate(-90 {c["unit_x"]} {c["unit_y"]})">{e(c["unit"])}</text>\n  </svg>')
    return mark_safe("".join(out))  # noqa: S308 - every text above is escaped
