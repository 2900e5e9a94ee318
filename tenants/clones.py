"""A provider's schema: a copy of the template schema, and the repair of older copies' names.

`clone_template` makes a new provider's schema from the template's definitions (tables, columns,
defaults, constraints, indexes, identity sequences, functions and triggers, all under the
template's names) and its rows, at a cost that does not grow with the number of schemas.

django-tenants' own clone (pg-clone-schema's `clone_schema()`) did neither: it grew slower with
every schema in the database (2 s a provider with five, 7-18 s with sixty) and recreated unique
constraints under PostgreSQL's default names (`<table>_<columns>_key`) rather than the names the
migrations gave them, so a later migration removing or renaming one by name failed on every
cloned provider (notifications 0004 met it). `align_constraint_names` renames a schema's
primary-key, unique and exclusion constraints to the template's, matched by table and definition
(renaming a constraint renames its index too); tenants 0011 aligned the providers cloned before.
"""

from __future__ import annotations

from django.db import connection, transaction

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


# --- the clone itself --------------------------------------------------------------------------
# A provider's schema is made from the template's definitions, read once per process (and again
# whenever the template's migrations change) with the template alone on search_path, so that
# PostgreSQL prints every name inside it unqualified: the statements then run in the new schema
# with only it on search_path. Every name is the template's own (tables, columns, constraints,
# indexes, identity sequences, functions and triggers). Reading the definitions scans the
# catalogue a few times, once per process; a creation itself reads none of it. pg-clone-schema's
# `clone_schema()` read it for every creation, so one took 2 s with five schemas and 7-18 s with
# sixty.

_KINDS = """
SELECT c.relkind, count(*) FROM pg_class AS c WHERE c.relnamespace = %(ns)s GROUP BY c.relkind
"""
_TABLES = """
SELECT c.oid, quote_ident(c.relname),
       (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute AS a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''),
       array_to_string(c.reloptions, ', ')
FROM pg_class AS c WHERE c.relnamespace = %(ns)s AND c.relkind = 'r' ORDER BY c.relname
"""
_SEQUENCES = """
SELECT quote_ident(s.relname), d.deptype, format_type(q.seqtypid, NULL) FROM pg_class AS s
JOIN pg_sequence AS q ON q.seqrelid = s.oid
LEFT JOIN pg_depend AS d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.deptype = 'i'
WHERE s.relnamespace = %(ns)s AND s.relkind = 'S' ORDER BY s.relname
"""
# Primary keys, unique and exclusion constraints first (a foreign key needs its target's), then
# foreign keys; check and not-null constraints come with the table (LIKE keeps their names).
_CONSTRAINTS = """
SELECT quote_ident(cl.relname), quote_ident(c.conname), pg_get_constraintdef(c.oid), c.contype
FROM pg_constraint AS c JOIN pg_class AS cl ON cl.oid = c.conrelid
WHERE c.connamespace = %(ns)s AND c.contype IN ('p', 'u', 'x', 'f')
ORDER BY c.contype = 'f', cl.relname, c.conname
"""
_INDEXES = """
SELECT pg_get_indexdef(i.indexrelid), ' ON ' || quote_ident(n.nspname) || '.' || quote_ident(t.relname) || ' ',
       ' ON ' || quote_ident(t.relname) || ' '
FROM pg_index AS i JOIN pg_class AS cl ON cl.oid = i.indexrelid JOIN pg_class AS t ON t.oid = i.indrelid
JOIN pg_namespace AS n ON n.oid = t.relnamespace
WHERE cl.relnamespace = %(ns)s
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c
                  WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))
ORDER BY cl.relname
"""
_FUNCTIONS = """
SELECT p.prokind, quote_ident(p.proname), pg_get_functiondef(p.oid), 'FUNCTION ' || quote_ident(n.nspname) || '.'
FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
WHERE p.pronamespace = %(ns)s ORDER BY p.proname, p.oid
"""
_TRIGGERS = """
SELECT pg_get_triggerdef(t.oid), ' ON ' || quote_ident(n.nspname) || '.' || quote_ident(cl.relname) || ' ',
       ' ON ' || quote_ident(cl.relname) || ' '
FROM pg_trigger AS t JOIN pg_class AS cl ON cl.oid = t.tgrelid JOIN pg_namespace AS n ON n.oid = cl.relnamespace
WHERE cl.relnamespace = %(ns)s AND NOT t.tgisinternal ORDER BY cl.relname, t.tgname
"""
_OTHER_OBJECTS = """
SELECT (SELECT count(*) FROM pg_type AS t WHERE t.typnamespace = %(ns)s AND t.typtype IN ('d', 'e', 'r', 'm'))
     + (SELECT count(*) FROM pg_statistic_ext AS s WHERE s.stxnamespace = %(ns)s)
     + (SELECT count(*) FROM pg_policy AS p JOIN pg_class AS cl ON cl.oid = p.polrelid WHERE cl.relnamespace = %(ns)s)
     + (SELECT count(*) FROM pg_rewrite AS r JOIN pg_class AS cl ON cl.oid = r.ev_class
        WHERE cl.relnamespace = %(ns)s AND r.rulename <> '_RETURN')
"""
# Which template this process read: its migrations (a migrate or a rollback changes both figures).
_VERSION = "SELECT count(*), coalesce(max(id), 0) FROM {template}.django_migrations"

_plans: dict[tuple[str, int, int], str] = {}


class UncloneableTemplate(Exception):
    """The template holds a kind of object the clone does not make (a view, a domain, a policy...):
    teach `_plan` to make it rather than let providers differ from their template."""


def _unqualified(definition: str, qualified: str, bare: str) -> str:
    """An index's or trigger's definition naming its table without the schema (PostgreSQL always
    qualifies it there)."""
    if qualified not in definition:
        raise UncloneableTemplate(f"cannot find {qualified!r} in {definition!r}")
    return definition.replace(qualified, bare, 1)


def _plan(template: str) -> str:
    """The statements that make a copy of `template` in the schema first on search_path, with the
    template's rows and its identity sequences where they stand."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", [template])
        ns = {"ns": cursor.fetchone()[0]}
        cursor.execute(f"SET search_path TO {quote(template)}")
        try:
            cursor.execute(_KINDS, ns)
            kinds = dict(cursor.fetchall())
            cursor.execute(_OTHER_OBJECTS, ns)
            others = cursor.fetchone()[0]
            if set(kinds) - {"r", "i", "S"} or others:
                raise UncloneableTemplate(f"{template} holds {kinds} relations and {others} types, statistics, "
                                          "policies or rules the clone does not make")
            read = []
            for query in (_TABLES, _SEQUENCES, _CONSTRAINTS, _INDEXES, _FUNCTIONS, _TRIGGERS):
                cursor.execute(query, ns)
                read.append(cursor.fetchall())
            tables, sequences, constraints, indexes, functions, triggers = read
        finally:
            connection.set_schema_to_public()  # type: ignore[attr-defined]  # django-tenants' backend
    if any(deptype != "i" for _, deptype, _ in sequences):
        raise UncloneableTemplate(f"{template} holds sequences that are not identity columns'")
    source = quote(template)
    statements = [f"CREATE TABLE {name} (LIKE {source}.{name} INCLUDING ALL EXCLUDING INDEXES)"
                  for _, name, _, _ in tables]
    statements += [f"ALTER TABLE {name} SET ({options})" for _, name, _, options in tables if options]
    # Every name here is the catalogue's, quoted by quote_ident; nothing comes from a user.
    statements += [f"INSERT INTO {name} ({columns}) OVERRIDING SYSTEM VALUE SELECT {columns} FROM {source}.{name}"  # noqa: S608
                   for _, name, columns, _ in tables if columns]
    # LIKE makes an identity column's sequence bigint whatever the column's type (with its limits).
    statements += [f"ALTER SEQUENCE {name} AS {kind}" for name, _, kind in sequences if kind != "bigint"]
    if sequences:
        statements.append("SELECT " + ", ".join(  # noqa: S608
            f"setval('{name}', (SELECT last_value FROM {source}.{name}), (SELECT is_called FROM {source}.{name}))"  # noqa: S608
            for name, _, _ in sequences))
    statements += [f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"
                   for table, name, definition, _ in constraints]
    statements += [_unqualified(*row) for row in indexes]
    for kind, name, definition, header in functions:
        if kind != "f" or header not in definition.split("\n", 1)[0]:
            raise UncloneableTemplate(f"{template}.{name} is not a plain function the clone can make")
        statements.append(definition.replace(header, "FUNCTION ", 1))
    statements += [_unqualified(*row) for row in triggers]
    return ";\n".join(statements)


def clone_template(template: str, schema: str) -> None:
    """Make `schema` a copy of `template`: definitions under the template's own names, the
    template's rows (content types, permissions, django_migrations) and sequence positions. One
    transaction: a failure leaves no schema behind."""
    with connection.cursor() as cursor:
        cursor.execute(_VERSION.format(template=connection.ops.quote_name(template)))
        count, latest = cursor.fetchone()
    key = (template, count, latest)
    if key not in _plans:
        _plans.clear()
        _plans[key] = _plan(template)
    quote = connection.ops.quote_name
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA {quote(schema)};\nSET search_path TO {quote(schema)};\n" + _plans[key])
    finally:
        connection.set_schema_to_public()  # type: ignore[attr-defined]  # django-tenants' backend
