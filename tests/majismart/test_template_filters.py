"""The builtin template filters: a billing period as people say it, in pickers and tables."""

from __future__ import annotations

import pytest

from majismart.template_filters import month_name


@pytest.mark.parametrize(("code", "style", "shown"), [
    ("2026-11", "long", "November 2026"), ("2026-01", "short", "Jan 2026"),
    ("2026-13", "long", "2026-13"), ("", "long", ""), ("Last 12", "long", "Last 12"), (None, "long", "None"),
])
def test_month_name(code: object, style: str, shown: str) -> None:
    assert month_name(code, style) == shown
