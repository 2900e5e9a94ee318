"""Template filters of access, available in every template (registered as builtins in settings)."""

from __future__ import annotations

from django import template

from accounts.permissions import has_capability

register = template.Library()


@register.filter
def can(user: object, capability: str) -> bool:
    """`{% if request.user|can:"payments.reverse" %}`: the role map decides, as in views."""
    return has_capability(user, capability)
