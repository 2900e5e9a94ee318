"""Small helpers for the raw statements some hot or bulk paths write themselves."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Lookup

if TYPE_CHECKING:
    from django.db.backends.utils import CursorWrapper
    from django.db.models import QuerySet


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


@dataclass(frozen=True)
class Step:
    """One statement of a set-based job that decides in temporary tables (the retention purge):
    with `table`, its SELECT is kept as that temporary table (an `id` primary key, analysed);
    without, it runs as it is (e.g. a DELETE narrowing a temporary table made before). Each app
    writes the steps that read its own tables; the job runs them in its order."""

    sql: str
    table: str = ""


def steps_run(cursor: CursorWrapper, steps: Iterable[Step], params: Mapping[str, Any]) -> None:
    for step in steps:
        if step.table:
            temp_table(cursor, step.table, step.sql, params)
        else:
            cursor.execute(step.sql, params)


def temp_table(cursor: CursorWrapper, name: str, select: str, params: Mapping[str, Any]) -> None:
    # Dropped at commit; dropped here too for a job run inside a longer transaction (tests, a
    # second run in one transaction).
    cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{name}")
    cursor.execute(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {select}", params)
    cursor.execute(f"ALTER TABLE {name} ADD PRIMARY KEY (id)")
    cursor.execute(f"ANALYZE {name}")


def queryset_delete(qs: QuerySet) -> int:
    """DELETE … WHERE id IN (the query): one statement, below the ORM's per-object collector (no
    cascade, no signals: what refers to the rows must have let go of them). Returns the count."""
    sql, params = qs.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {qs.model._meta.db_table} WHERE id IN ({sql})", params)  # noqa: S608 - the model's table; values bound
        return cursor.rowcount


# Schemas per statement of across_schemas. A statement locks every table and index it plans over
# until its transaction ends, and PostgreSQL's lock table holds max_locks_per_transaction (64) x
# max_connections (100) by default for the whole server: one statement over 1,000 schemas of
# the message sweep (a table and its 8 indexes each) ran out of it ("out of shared memory").
SCHEMAS_PER_STATEMENT = 100


def across_schemas(probe: str, *, params: Sequence[Any] = (), schemas: Iterable[str] | None = None) -> list[tuple[Any, ...]]:
    """`probe` run in every schema that has its tables, SCHEMAS_PER_STATEMENT schemas a
    statement (UNION ALL): each row it returns comes back led by its schema's name. `{q}.table`
    in `probe` names a table of the schema at hand (every such table must exist there: a schema
    still being created is left out); `params` are bound in each part. `schemas`: only those
    (default: every schema that has the tables: the providers' and the clone template's, never
    public's). For looking at every provider at once (metrics, fan-outs), not one statement per
    provider. Outside a transaction, each statement's locks are let go before the next."""
    import re

    tables = sorted(set(re.findall(r"\{q\}\.(\w+)", probe)))
    if not tables:
        raise ValueError("The probe names no {q}.table")
    with connection.cursor() as cursor:
        cursor.execute("SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid "
                       "WHERE c.relname = ANY(%s) AND c.relkind IN ('r', 'p') AND n.nspname <> 'public' "
                       "GROUP BY n.nspname HAVING count(*) = %s ORDER BY n.nspname", [tables, len(tables)])
        found = [row[0] for row in cursor.fetchall()]
        if schemas is not None:
            wanted = set(schemas)
            found = [name for name in found if name in wanted]
        if not found:
            return []
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(found), SCHEMAS_PER_STATEMENT):
            chunk = found[start:start + SCHEMAS_PER_STATEMENT]
            parts = [f"(SELECT %s, probe.* FROM ({probe.format(q=quote_ident(name))}) probe)"  # noqa: S608 - quoted names
                     for name in chunk]
            cursor.execute(" UNION ALL ".join(parts), [value for name in chunk for value in (name, *params)])
            rows += [tuple(row) for row in cursor.fetchall()]
        return rows
