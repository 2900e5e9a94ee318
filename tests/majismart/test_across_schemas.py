"""majismart.sql.across_schemas: one probe over every provider's schema, a bounded number of
schemas per statement (each statement locks what it plans over; PostgreSQL's lock table is
shared by the whole server)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from clients.models import Category, Client
from majismart import sql
from tenants.models import TEMPLATE_SCHEMA

PROBE = "SELECT count(*) FROM {q}.clients_client"


@pytest.mark.django_db
def test_every_schema_answers_whatever_the_number_per_statement(alpha, beta, gamma, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(beta):
        Client.objects.create(account_number="AX-1", full_name="Across One", category=Category.objects.get(code="domestic"))
    connection.set_schema_to_public()
    whole = dict(sql.across_schemas(PROBE))
    assert whole["alpha"] + 1 == whole["beta"] and TEMPLATE_SCHEMA in whole and "public" not in whole
    for per_statement in (1, 2):
        monkeypatch.setattr(sql, "SCHEMAS_PER_STATEMENT", per_statement)
        with CaptureQueriesContext(connection) as queries:
            chunked = dict(sql.across_schemas(PROBE))
        probes = [q for q in queries.captured_queries if q["sql"].startswith("(SELECT")]  # the probe statements
        assert chunked == whole
        assert len(probes) == -(-len(whole) // per_statement)  # ceil: every schema once, in chunks
    assert dict(sql.across_schemas(PROBE, schemas=["beta"])) == {"beta": whole["beta"]}
