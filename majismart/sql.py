"""Small helpers for the raw statements some hot or bulk paths write themselves."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier (schema, table, column) quoted, any double quote in it doubled."""
    return '"' + name.replace('"', '""') + '"'
