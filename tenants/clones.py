"""A cloned provider schema's constraint names, made the template's.

django-tenants makes a provider's schema by cloning the template schema (pg-clone-schema's
`clone_schema()`), which recreates unique constraints under PostgreSQL's default names
(`<table>_<columns>_key`) rather than the names the migrations gave them. A later migration that
removes or renames such a constraint by its name then fails on every cloned provider
(notifications 0004 met it). `align_constraint_names` renames a schema's primary-key, unique and
exclusion constraints to the template's, matched by table and definition (renaming a constraint
renames its index too). A new provider's schema is aligned right after its clone
(`Provider.create_schema`); tenants 0011 aligned the providers that existed before.
"""

from __future__ import annotations

from django.db import connection

# Each of `schema`'s constraints whose table and definition the template has under another name
# (one constraint only: never guess between two), where that name is free in `schema`.
_MISNAMED = """
WITH con AS (
    SELECT n.nspname AS schema, cl.relname AS tbl, c.conname AS name, pg_get_constraintdef(c.oid) AS def
    FROM pg_constraint AS c
    JOIN pg_class AS cl ON cl.oid = c.conrelid
    JOIN pg_namespace AS n ON n.oid = cl.relnamespace
    WHERE n.nspname IN (%(template)s, %(schema)s) AND c.contype IN ('p', 'u', 'x')
), wanted AS (
    SELECT tbl, def, min(name) AS name FROM con WHERE schema = %(template)s GROUP BY tbl, def HAVING count(*) = 1
)
SELECT mine.tbl, mine.name, wanted.name
FROM con AS mine JOIN wanted ON wanted.tbl = mine.tbl AND wanted.def = mine.def
WHERE mine.schema = %(schema)s AND mine.name <> wanted.name
  AND NOT EXISTS (SELECT 1 FROM con AS taken
                  WHERE taken.schema = %(schema)s AND taken.tbl = mine.tbl AND taken.name = wanted.name)
ORDER BY mine.tbl, mine.name
"""


def align_constraint_names(schema: str, template: str) -> list[tuple[str, str, str]]:
    """Rename `schema`'s constraints that the template names otherwise; (table, old, new) of each.
    Nothing to do (a schema made by migrations, or already aligned) costs one query."""
    if schema == template:
        return []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(_MISNAMED, {"template": template, "schema": schema})
        renamed = [(table, old, new) for table, old, new in cursor.fetchall()]
        for table, old, new in renamed:
            cursor.execute(f"ALTER TABLE {quote(schema)}.{quote(table)} RENAME CONSTRAINT {quote(old)} TO {quote(new)}")
    return renamed
