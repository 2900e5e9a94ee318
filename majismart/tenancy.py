"""The database connection as django-tenants makes it: Django's connection proxy, typed as
django-tenants' wrapper (its `schema_name`, `tenant`, `set_schema_to_public()`...), which
django-stubs cannot know. Same object as `django.db.connection`; only the type differs."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.db import connection as _connection

if TYPE_CHECKING:
    from django_tenants.postgresql_backend.base import DatabaseWrapper

connection = cast("DatabaseWrapper", _connection)
