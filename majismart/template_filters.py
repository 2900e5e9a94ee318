"""Template filters available in every template (registered as builtins in settings)."""

from __future__ import annotations

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
