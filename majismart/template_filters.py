"""Template filters available in every template (registered as builtins in settings)."""

from __future__ import annotations

from datetime import date

from django import template

from majismart import money

register = template.Library()


@register.filter
def get_item(mapping: object, key: object) -> object:
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def kes(amount: object) -> str:
    """`{{ invoice.total|kes }}` → `KES 1,948.75` (majismart.money.kes)."""
    return money.kes(amount)


@register.filter
def month_name(period: object, style: str = "long") -> str:
    """`{{ "2026-11"|month_name }}` → `November 2026` (`|month_name:"short"` → `Nov 2026`): a
    billing period or month as people say it, in pickers and tables; anything else as it is."""
    text = str(period)
    if len(text) != 7 or text[4] != "-" or not (text[:4] + text[5:]).isdigit() or not 1 <= int(text[5:]) <= 12:
        return text
    return date(int(text[:4]), int(text[5:]), 1).strftime("%b %Y" if style == "short" else "%B %Y")


@register.simple_tag
def grouped_chart_svg(chart: dict, title: str, x_title: str = "") -> str:
    """`{% grouped_chart_svg chart title x_title %}`: majismart.charts.grouped_svg."""
    from majismart.charts import grouped_svg

    return grouped_svg(chart, title, x_title)


@register.filter
def said(text: object) -> str:
    """A stored description our code wrote (a bill's line, a ledger entry) in the active language
    (majismart.stored_words)."""
    from majismart.stored_words import said as say

    return say(str(text or ""))
