"""django-tenants' PostgreSQL backend (settings: DATABASES ENGINE), with a table list that does
not grow with the number of schemas.

Django lists a schema's tables (`introspection.table_names()`, which the migration recorder asks
before every `migrate` of every schema) with `pg_table_is_visible()` over every relation of every
schema in the database: 260 ms a call with 1,000 providers (570,000 relations), most of
`migrate_schemas`' time per schema. A provider schema's relations are found instead through
their dependency on the schema (`pg_depend`'s index on what is depended on): 5 ms, whatever the
number of schemas. The public schema is created with the database and PostgreSQL records no
dependencies on such built-in objects, so its list is Django's own.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import introspection as postgresql_introspection
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.postgresql_backend.introspection import DatabaseSchemaIntrospection
from django_tenants.utils import get_public_schema_name

# What Django's get_table_list returns (name, 't'/'v'/'p', comment), for the relations of one schema.
_SCHEMA_TABLES = """
SELECT c.relname,
       CASE WHEN c.relispartition THEN 'p' WHEN c.relkind IN ('m', 'v') THEN 'v' ELSE 't' END,
       obj_description(c.oid, 'pg_class')
FROM pg_catalog.pg_depend AS d JOIN pg_catalog.pg_class AS c ON c.oid = d.objid
WHERE d.refclassid = 'pg_catalog.pg_namespace'::regclass
  AND d.refobjid = (SELECT n.oid FROM pg_catalog.pg_namespace AS n WHERE n.nspname = %s)
  AND d.refobjsubid = 0 AND d.classid = 'pg_catalog.pg_class'::regclass
  AND c.relkind IN ('f', 'm', 'p', 'r', 'v')
"""


class DatabaseIntrospection(DatabaseSchemaIntrospection):
    def get_table_list(self, cursor: Any) -> list[Any]:
        schema = getattr(self.connection, "schema_name", None)
        if not schema or schema == get_public_schema_name():
            return super().get_table_list(cursor)
        cursor.execute(_SCHEMA_TABLES, [schema])
        # PostgreSQL's TableInfo (name, type, comment), which django-stubs does not declare.
        table_info = postgresql_introspection.TableInfo  # type: ignore[attr-defined]
        return [table_info(*row) for row in cursor.fetchall() if row[0] not in self.ignored_tables]


class DatabaseWrapper(TenantDatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.introspection = DatabaseIntrospection(self)
