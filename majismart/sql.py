"""Small helpers for the raw statements some hot or bulk paths write themselves."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.db.backends.utils import CursorWrapper


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier (schema, table, column) quoted, any double quote in it doubled."""
    return '"' + name.replace('"', '""') + '"'


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
