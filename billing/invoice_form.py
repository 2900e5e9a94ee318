"""The bill as a form: one A4 page of fixed geometry whose frame (letterhead, labels, boxes, the
run's dates, the chart's months, how to pay, the footer) is the same on every bill of a run,
and whose layer (the client, the readings, the charges, the account, the bars) is each bill's own.

billing.documents renders the frame once per batch with WeasyPrint and stamps each bill's layer
over it (majismart.pdfstamp); `page_html` gives the same page as one HTML document, which is how
a single bill would be rendered by WeasyPrint alone (bench/pdf.py's baseline). A bill with more
meters or charge lines than the form has rows for is rendered by the flowing template instead
(`fits`). Positions are millimetres from the top-left corner; a text's y is its baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.template.loader import render_to_string
from django.utils.dateformat import format as date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from majismart.money import kes
from majismart.pdfstamp import Box, Text, fit

LEFT, RIGHT, WIDTH = 14.0, 196.0, 210.0
MUTED = "#5b6b7c"
METER_ROWS, CHARGE_ROWS, ROW = 3, 10, 5.5
METER_Y, CHARGE_Y = 94.5, 140.5  # the first row's baseline
CHART_TOP, CHART_BASE, SLOTS = 258.0, 276.0, 12
SLOT = (RIGHT - LEFT) / SLOTS
# DejaVu Sans: ascent 928, descent 236 per 1000; with line-height 1 the baseline sits this many
# ems below the top of an HTML line box (half the leading, which is negative, plus the ascent).
BASELINE_EM = (1 - (0.928 + 0.236)) / 2 + 0.928
NOTE_TRUE_UP = gettext_noop("The meters show %(used)s m³ since the last reading; %(billed)s m³ of it was billed before, "
                            "as estimates.")
NOTE_ESTIMATED = gettext_noop("No reading was taken this period: the consumption is estimated from your recent use "
                              "and corrected on your next actual reading.")


@dataclass
class Facts:
    """What every bill of a batch shares: its period and dates (a run issues them together)."""

    period: str
    issued_on: date | None
    due_date: date | None

    @property
    def period_label(self) -> str:
        return date_format(date(int(self.period[:4]), int(self.period[5:]), 1), "F Y")  # in the bill's language

    def months(self) -> list[tuple[str, float]]:
        """The chart's slots, oldest first: (label, middle x), the bill's own period last."""
        year, month = int(self.period[:4]), int(self.period[5:])
        slots = []
        for back in range(SLOTS - 1, -1, -1):
            y, m = divmod(year * 12 + month - 1 - back, 12)
            slots.append((f"{date_format(date(y, m + 1, 1), 'M')}{'' if m else ' ' + str(y)[2:]}", _slot_middle(SLOTS - 1 - back)))
        return slots


def _slot_middle(index: int) -> float:
    return LEFT + SLOT * (index + 0.5)


def _months_back(period: str, other: str) -> int:
    return (int(period[:4]) * 12 + int(period[5:])) - (int(other[:4]) * 12 + int(other[5:]))


def fitted(x: float, y: float, text: str, max_width: float, *, size: float = 9.0, min_size: float | None = None,
           **kw: object) -> Text:
    """A text made to fit `max_width` (smaller, down to `min_size`, then cut), measured here so
    that the stamped bill and its HTML twin print the same."""
    text, size = fit(text, size, max_width, bold=bool(kw.get("bold")), min_size=min_size)
    return Text(x, y, text, size=size, **kw)  # type: ignore[arg-type]


def fits(meter_rows: list, lines: list) -> bool:
    return len(meter_rows) <= METER_ROWS and len(lines) <= CHARGE_ROWS


def _tint(color: str, share: float) -> str:
    """`color` mixed with white (share of the colour, 0..1)."""
    value = color.lstrip("#")
    rgb = [int(value[i:i + 2], 16) for i in (0, 2, 4)]
    return "#" + "".join(f"{round(255 - (255 - c) * share):02x}" for c in rgb)


def _num(value: Decimal | None, places: int = 3) -> str:
    return "—" if value is None else f"{value:,.{places}f}"


def _day(value: date | None) -> str:
    return date_format(value, "j M Y") if value else "—"


def layer(*, invoice: object, client: object, lines: list, meter_rows: list, figures: object,
          history: list[tuple[str, Decimal, bool]], color: str, account_at: tuple[float, float] | None) -> list[Text | Box]:
    """What this bill prints over the frame."""
    items: list[Text | Box] = [
        Text(RIGHT, 24.0, invoice.number or "", size=9, bold=True, align="right"),  # type: ignore[attr-defined]
        fitted(LEFT, 58.0, client.full_name, 108, size=11, min_size=7.5, bold=True),  # type: ignore[attr-defined]
        Text(LEFT, 63.5, _("Account %(account)s") % {"account": client.account_number}, size=9),  # type: ignore[attr-defined]
        Text(192.0, 64.0, kes(figures.amount_due), size=16, bold=True, align="right"),  # type: ignore[attr-defined]
    ]
    place = " · ".join(p for p in (client.location, getattr(client.zone, "name", "") if client.zone else "") if p)  # type: ignore[attr-defined]
    if place:
        items.append(fitted(LEFT, 68.5, place, 108, min_size=7, color=MUTED))
    if account_at is not None:
        items.append(Text(account_at[0], account_at[1], client.account_number, size=10, bold=True))  # type: ignore[attr-defined]
    rows = meter_rows or [None]
    for i, m in enumerate(rows):
        y = METER_Y + i * ROW
        if m is None:  # an estimate, or a bill without meter rows: the invoice's own figures
            items += [Text(LEFT, y, invoice.meter_serial or "—"),  # type: ignore[attr-defined]
                      Text(100, y, _num(invoice.previous_reading), align="right"),  # type: ignore[attr-defined]
                      Text(150, y, _("not read") if invoice.estimated else _num(invoice.current_reading), align="right"),  # type: ignore[attr-defined]
                      Text(RIGHT, y, _num(invoice.consumption), align="right")]  # type: ignore[attr-defined]
        else:
            items += [fitted(LEFT, y, m.serial, 40, min_size=7),
                      Text(100, y, _("%(reading)s on %(day)s") % {"reading": _num(m.previous_reading), "day": _day(m.from_at.date())}, align="right"),
                      Text(150, y, _("%(reading)s on %(day)s") % {"reading": _num(m.current_reading), "day": _day(m.to_at.date())}, align="right"),
                      Text(RIGHT, y, _num(m.consumption), align="right")]
    total = METER_Y + (len(rows) - 1) * ROW + 7.5  # the total follows the last row
    items += [Box(LEFT, total - 5.3, RIGHT - LEFT, 0.3, fill="#9aa7b4"),
              Text(LEFT, total, _("Consumption billed"), bold=True),
              Text(RIGHT, total, _num(invoice.consumption), bold=True, align="right")]  # type: ignore[attr-defined]
    read = sum((m.consumption for m in meter_rows), Decimal(0))
    if meter_rows and not invoice.estimated and read != invoice.consumption:  # type: ignore[attr-defined]
        items.append(fitted(LEFT, total + 5.5, _(NOTE_TRUE_UP) % {"used": _num(read), "billed": _num(read - invoice.consumption)},  # type: ignore[attr-defined]
                            RIGHT - LEFT, size=7.5, min_size=6, color=MUTED))
    if invoice.estimated:  # type: ignore[attr-defined]
        items += [Box(50.5, total - 3.4, 21.5, 4.6, stroke="#9a6400", line_width=0.3),
                  Text(61.25, total, _("ESTIMATED"), size=7.5, color="#9a6400", align="center"),
                  fitted(LEFT, total + 5.5, _(NOTE_ESTIMATED), RIGHT - LEFT, size=7.5, min_size=6, color=MUTED)]
    for i, ln in enumerate(lines):
        y = CHARGE_Y + i * ROW
        items += [fitted(LEFT, y, ln.description, 92, min_size=7),
                  Text(130, y, f"{ln.quantity.normalize():f}" if ln.quantity else "", align="right"),
                  Text(160, y, f"{ln.unit_price:,.2f}", align="right"),
                  Text(RIGHT, y, kes(ln.amount), align="right")]
    if not lines:
        items.append(Text(LEFT, CHARGE_Y, _("No charges."), color=MUTED))
    total = CHARGE_Y + (max(len(lines), 1) - 1) * ROW + 7.5
    items += [Box(LEFT, total - 5.3, RIGHT - LEFT, 0.3, fill="#9aa7b4"), Text(LEFT, total, _("This bill"), bold=True),
              Text(RIGHT, total, kes(invoice.total), bold=True, align="right")]  # type: ignore[attr-defined]
    for y, value, bold in ((216.0, figures.previous_balance, False), (221.5, figures.payments, False),  # type: ignore[attr-defined]
                           (227.0, figures.other, False), (232.5, figures.this_bill, False),  # type: ignore[attr-defined]
                           (238.5, figures.amount_due, True)):  # type: ignore[attr-defined]
        items.append(Text(100, y, kes(value), size=10.5 if bold else 9, bold=bold, align="right"))
    items += _bars(invoice.period, history, color)  # type: ignore[attr-defined]
    return items


def _bars(period: str, history: list[tuple[str, Decimal, bool]], color: str) -> list[Text | Box]:
    shown = [(p, used, est) for p, used, est in history if 0 <= _months_back(period, p) < SLOTS]
    top = max((used for _, used, _ in shown), default=Decimal(0)) or Decimal(1)
    items: list[Text | Box] = []
    for p, used, estimated in shown:
        index = SLOTS - 1 - _months_back(period, p)
        height = float(used / top) * (CHART_BASE - CHART_TOP) if used > 0 else 0.0
        x = _slot_middle(index) - 4.5
        current = p == period
        fill = color if current else "#b9c6d3"
        if estimated:
            items.append(Box(x, CHART_BASE - height, 9.0, height, fill=_tint(fill, 0.45), stroke=MUTED if not current else color,
                             line_width=0.25, dashed=True))
        elif height:
            items.append(Box(x, CHART_BASE - height, 9.0, height, fill=fill))
        if current:
            label = f"{used:,.1f} m³" + ((" " + _("(est.)")) if estimated else "")
            items.append(Text(_slot_middle(index), max(CHART_BASE - height - 1.2, CHART_TOP - 2.5), label, size=7.5,
                              align="center"))
    return items


# --- the frame ------------------------------------------------------------------------------
def frame_items(head: object, facts: Facts) -> list[Text | Box]:
    """Everything the frame prints at a fixed place (the letterhead and footer flow in HTML)."""
    color = head.color  # type: ignore[attr-defined]
    due = _day(facts.due_date)

    def label(x: float, y: float, text: str, **kw: object) -> Text:
        return Text(x, y, text, size=7.5, color=MUTED, **kw)  # type: ignore[arg-type]

    def heading(y: float, text: str, x: float = LEFT) -> Text:
        return Text(x, y, text, size=10, bold=True, color=color)

    items: list[Text | Box] = [
        Text(RIGHT, 17.0, _("Water bill"), size=16, bold=True, align="right"),
        label(140, 24.0, _("Invoice")), label(140, 29.0, _("Period")), label(140, 34.0, _("Issued")),
        label(140, 39.0, _("Due")),
        Text(RIGHT, 29.0, facts.period_label, bold=True, align="right"),
        Text(RIGHT, 34.0, _day(facts.issued_on), bold=True, align="right"),
        Text(RIGHT, 39.0, due, bold=True, align="right"),
        Box(LEFT, 45.0, RIGHT - LEFT, 0.8, fill=color),
        label(LEFT, 52.5, _("BILL TO")),
        Box(128.0, 49.0, 68.0, 24.0, fill=_tint(color, 0.10), stroke=color, line_width=0.4),
        Text(132.0, 55.0, _("Amount due"), size=8, color=MUTED),
        Text(132.0, 70.0, _("by %(due_date)s") % {"due_date": due}, size=8, color=MUTED),
        heading(82.0, _("Meter readings")),
        label(LEFT, 88.0, _("Meter")), label(100, 88.0, _("Previous reading"), align="right"),
        label(150, 88.0, _("Current reading"), align="right"), label(RIGHT, 88.0, _("Used (m³)"), align="right"),
        Box(LEFT, 89.5, RIGHT - LEFT, 0.3, fill="#9aa7b4"),
        heading(128.5, _("Charges")),
        label(LEFT, 134.5, _("Item")), label(130, 134.5, _("Quantity"), align="right"),
        label(160, 134.5, _("Rate"), align="right"),
        label(RIGHT, 134.5, _("Amount"), align="right"), Box(LEFT, 136.0, RIGHT - LEFT, 0.3, fill="#9aa7b4"),
        heading(210.0, _("Your account")),
        Text(LEFT, 216.0, _("Previous balance")), Text(LEFT, 221.5, _("Payments since")),
        Text(LEFT, 227.0, _("Other credits and charges")), Text(LEFT, 232.5, _("This bill")),
        Box(LEFT, 234.6, 100 - LEFT, 0.3, fill="#9aa7b4"), Text(LEFT, 238.5, _("Amount due"), size=10.5, bold=True),
        Text(LEFT, 244.0, _("Due date")), Text(100, 244.0, due, align="right"),
        Box(108.0, 204.0, 88.0, 43.0, fill="#f2f8fd"), Box(108.0, 204.0, 1.2, 43.0, fill=color),
        heading(210.5, _("How to pay"), x=112.0),
        heading(254.0, _("Your consumption, last %(months)s months (m³)") % {"months": SLOTS}),
        label(RIGHT, 254.0, _("this period in colour; estimates dashed"), align="right"),
        Box(LEFT, CHART_BASE, RIGHT - LEFT, 0.25, fill="#9aa7b4"),
    ]
    ways = head.how_to_pay  # type: ignore[attr-defined]
    if ways:
        way = ways[0]
        items.append(Text(112.0, 217.5, f"{way['method']} {way['number']}", size=10, bold=True))
        if way.get("account"):
            items.append(Text(112.0, 224.0, _("Account"), size=10))
        for n, more in enumerate(ways[1:2]):
            items.append(Text(112.0, 230.5 + n * 5, _("or %(method)s %(number)s") % {"method": more["method"], "number": more["number"]}, size=9))
    else:
        items.append(fitted(112.0, 217.5, _("At the office of %(name)s, quoting account") % {"name": head.name}, 80, min_size=7))  # type: ignore[attr-defined]
    if head.portal_url:  # type: ignore[attr-defined]
        items += [Text(112.0, 238.0, _("Or pay online, and see your usage:"), size=7.5, color=MUTED),
                  fitted(112.0, 242.0, head.portal_url, 80, size=7.5, min_size=6)]  # type: ignore[attr-defined]
    items += [label(middle, 280.5, month, align="center") for month, middle in facts.months()]
    return items


def frame_html(*, head: object, facts: Facts, layer_items: list[Text | Box] | None = None) -> str:
    """The frame's page; with `layer_items`, the whole bill as one page of HTML."""
    return render_to_string("pdf/invoice_form.html", {
        "head": head, "fixed": layer_html(frame_items(head, facts)),
        "layer": layer_html(layer_items) if layer_items is not None else ""})


def account_position(head: object) -> tuple[float, float] | None:
    """Where the frame leaves the account number to be printed in "How to pay" (None: nowhere)."""
    ways = head.how_to_pay  # type: ignore[attr-defined]
    if not ways:
        return (112.0, 224.0)
    if ways[0].get("account"):
        return (138.0, 224.0)
    return None


def layer_html(items: list[Text | Box]) -> SafeString:
    parts = []
    for item in items:
        if isinstance(item, Box):
            style = (f"left:{item.x:.2f}mm;top:{item.y:.2f}mm;width:{item.width:.2f}mm;height:{item.height:.2f}mm;"
                     + (f"background:{item.fill};" if item.fill else "")
                     + (f"border:{item.line_width:.2f}mm {'dashed' if item.dashed else 'solid'} {item.stroke};"
                        if item.stroke else ""))
            parts.append(f'<div class="lb" style="{style}"></div>')
            continue
        top = item.y - BASELINE_EM * item.size * 25.4 / 72
        if item.align == "right":
            where = f"right:{WIDTH - item.x:.2f}mm;text-align:right"
        elif item.align == "center":
            where = f"left:{item.x - 50:.2f}mm;width:100mm;text-align:center"
        else:
            where = f"left:{item.x:.2f}mm"
        limit = f";max-width:{item.max_width:.2f}mm" if item.max_width else ""
        style = (f"{where};top:{top:.2f}mm;font-size:{item.size}pt;color:{item.color}"
                 f"{';font-weight:bold' if item.bold else ''}{limit}")
        parts.append(f'<div class="lt" style="{style}">{escape(item.text)}</div>')
    return mark_safe("".join(parts))  # noqa: S308 - every text was escaped just above
