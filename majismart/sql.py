"""Small helpers for the raw statements some hot or bulk paths write themselves."""

from __future__ import annotations

from typing import Any

from django.db.models import Lookup


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier (schema, table, column) quoted, any double quote in it doubled."""
    return '"' + name.replace('"', '""') + '"'


class AnyOf(Lookup):
    """`lhs = ANY(%s)` with the values as one array parameter, as a filter expression:
    `.filter(AnyOf(Upper("account_number"), keys))`. Unlike `__in` (one parameter per value),
    any number of values fits in one statement, and the plan does not change with their count."""

    lookup_name = "any_of"
    prepare_rhs = False  # the list goes to the driver as it is (an array), not through the field

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]
