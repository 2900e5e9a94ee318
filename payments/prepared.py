"""Statements prepared once per database connection and provider schema, run straight through
libpq (psycopg's pq layer): no parse or plan per execution, no search_path to set first (the
statement names the schema's tables in full), and none of a cursor's work. For the busiest
endpoint's one statement (payments.inbox.confirmation_store); nothing here knows what it says."""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

import psycopg

if TYPE_CHECKING:
    from django_tenants.postgresql_backend.base import DatabaseWrapper


class SchemaStatement:
    """One statement, in the text `sql_for(schema)` gives for each provider schema, prepared on
    each connection for each schema it runs in, oldest first; past `prepared_max` per connection
    the oldest is deallocated (a connection may serve many providers). Names (`<name>_<n>`) are
    never reused, so a forgotten one cannot clash with a live one."""

    prepared_max = 64

    def __init__(self, name: str, sql_for: Callable[[str], bytes]) -> None:
        self.name = name.encode()
        self.sql_for = sql_for
        self._made = itertools.count(1)
        # By psycopg connection: {schema: the statement's name on that connection}.
        self._names: weakref.WeakKeyDictionary[psycopg.Connection, dict[str, bytes]] = weakref.WeakKeyDictionary()

    def forget(self, conn: psycopg.Connection) -> None:
        """Know none of the statements prepared on `conn`, as on a new connection."""
        self._names.pop(conn, None)

    def run(self, connection: DatabaseWrapper, params: list[bytes | None]) -> psycopg.pq.abc.PGresult:
        """The statement for the connection's current schema, with these parameters (text, None
        for NULL), as part of the open atomic block if there is one. Errors are Django's."""
        connection.ensure_connection()
        conn = connection.connection
        with connection.wrap_database_errors:
            if not conn.autocommit and conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                # In atomic() before its first statement: psycopg sends BEGIN only ahead of its own
                # statements, so have it open the block's transaction, or this would commit alone.
                conn.execute("SELECT 1")
            names = self._names.get(conn)
            if names is None:
                names = self._names[conn] = {}
            return self._execute(conn, names, connection.schema_name, params)

    def _execute(self, conn: psycopg.Connection, names: dict[str, bytes], schema: str,
                 params: list[bytes | None]) -> psycopg.pq.abc.PGresult:
        """One deallocated behind our back (DISCARD ALL, DEALLOCATE ALL) is forgotten; outside a
        transaction the failed call changed nothing, so it is prepared again and run."""
        try:
            return _ok(conn.pgconn.exec_prepared(self._name(conn.pgconn, names, schema), params))  # type: ignore[arg-type]  # None is SQL NULL
        except psycopg.errors.InvalidSqlStatementName:
            names.pop(schema, None)
            if not conn.autocommit:
                raise
            return _ok(conn.pgconn.exec_prepared(self._name(conn.pgconn, names, schema), params))  # type: ignore[arg-type]  # None is SQL NULL

    def _name(self, pgconn: psycopg.pq.abc.PGconn, names: dict[str, bytes], schema: str) -> bytes:
        name = names.get(schema)
        if name is None:
            while len(names) >= self.prepared_max:
                _ok(pgconn.exec_(b"DEALLOCATE " + names.pop(next(iter(names)))))
            name = b"%s_%d" % (self.name, next(self._made))
            _ok(pgconn.prepare(name, self.sql_for(schema)))
            names[schema] = name
        return name


def _ok(result: psycopg.pq.abc.PGresult) -> psycopg.pq.abc.PGresult:
    """libpq's result, or psycopg's exception for its SQLSTATE (which Django's wrapper maps); a
    result with none is a connection that was lost (OperationalError, as psycopg says it)."""
    if result.status in (psycopg.pq.ExecStatus.COMMAND_OK, psycopg.pq.ExecStatus.TUPLES_OK):
        return result
    if not result.error_field(psycopg.pq.DiagnosticField.SQLSTATE):
        raise psycopg.OperationalError(result.get_error_message() or "the connection to the database was lost")
    raise psycopg.errors.error_from_result(result)
