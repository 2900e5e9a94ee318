"""The append-only ledger: opening balances from the register, balances, statements."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client as Http
from django_tenants.utils import tenant_context
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.models import LedgerEntry, LedgerIsAppendOnly
from billing.selectors import client_balance, client_statement
from clients.models import Category, Client
from clients.services import client_create
from clients.validation import References, clean_client
from tests.conftest import login


def _client(**changes: object) -> Client:
    cleaned, errors = clean_client({"full_name": "Ledger Client", "category": "domestic", **changes}, References.load())
    assert errors == {}
    return client_create(actor="t", **cleaned)


def test_an_opening_balance_opens_the_ledger(alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        owing = _client(opening_balance="1500.50")
        clear = _client(opening_balance="0")
        entry = LedgerEntry.objects.get(client=owing)
        assert (entry.kind, entry.amount, entry.reference) == ("opening_balance", Decimal("1500.50"), owing.account_number)
        assert not LedgerEntry.objects.filter(client=clear).exists()
        assert client_balance(owing.pk) == Decimal("1500.50") and client_balance(clear.pk) == Decimal("0.00")


def test_entries_are_never_edited_or_deleted(alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        entry = LedgerEntry.objects.get(client=_client(opening_balance="100"))
        entry.amount = Decimal("1")
        for attempt in (entry.save, entry.delete, lambda: LedgerEntry.objects.all().delete(),
                        lambda: LedgerEntry.objects.filter(pk=entry.pk).update(amount=0)):
            with pytest.raises(LedgerIsAppendOnly):
                attempt()
        assert LedgerEntry.objects.get(pk=entry.pk).amount == Decimal("100.00")


@pytest.mark.parametrize("statement", [
    "UPDATE billing_ledgerentry SET amount = 0 WHERE id = %s",
    "UPDATE billing_ledgerentry SET description = 'edited' WHERE id = %s",
    "DELETE FROM billing_ledgerentry WHERE id = %s",
    "TRUNCATE billing_ledgerentry CASCADE",
])
def test_postgresql_refuses_to_edit_or_delete_entries_whatever_the_client(alpha, statement: str) -> None:  # type: ignore[no-untyped-def]
    """Raw SQL, a psql session or another tool meet the trigger (billing migration 0010)."""
    from django.db import DatabaseError, transaction

    with tenant_context(alpha):
        entry = LedgerEntry.objects.get(client=_client(opening_balance="100"))
        with pytest.raises(DatabaseError, match="the ledger is append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's own inserts checked first
                cursor.execute(statement, [entry.pk] if "%s" in statement else [])
        assert LedgerEntry.objects.get(pk=entry.pk).amount == Decimal("100.00")


def test_only_the_carry_forward_deletes_and_only_inside_it(alpha) -> None:  # type: ignore[no-untyped-def]
    from django.db import DatabaseError, transaction

    from billing.retention import ledger_carry_forward

    with tenant_context(alpha):
        client = _client(opening_balance="100")
        entry = LedgerEntry.objects.get(client=client)
        with transaction.atomic():
            with ledger_carry_forward(), connection.cursor() as cursor:
                cursor.execute("DELETE FROM billing_ledgerentry WHERE id = %s", [entry.pk])
                cursor.execute("INSERT INTO billing_ledgerentry (client_id, kind, amount, booked_on, reference, "
                               "description, created) VALUES (%s, 'opening_balance', 100, %s, 'RETENTION', "
                               "'Balance brought forward', now()) RETURNING id", [client.pk, date(2020, 1, 1)])
                forward = cursor.fetchone()[0]
            # Out of the block, in the same transaction: refused again.
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("DELETE FROM billing_ledgerentry WHERE id = %s", [forward])
        assert client_balance(client) == Decimal("100.00")


_numbers = itertools.count(1)


# One database transaction for all examples (hypothesis and function fixtures don't mix), so
# each example uses a client of its own.
@pytest.mark.django_db
@settings(max_examples=40, deadline=None)
@given(amounts=st.lists(st.decimals(min_value=-100000, max_value=100000, places=2), min_size=1, max_size=30))
def test_the_balance_is_the_sum_of_the_entries_and_the_running_balance_ends_there(amounts: list[Decimal]) -> None:
    from tenants.models import Provider

    with tenant_context(Provider.objects.get(slug="alpha")):
        client = Client.objects.create(account_number=f"H{next(_numbers):07d}", full_name="Hypo",
                                       category=Category.objects.get(code="domestic"))
        LedgerEntry.objects.bulk_create(LedgerEntry(client=client, kind="adjustment", amount=a,
                                                    booked_on=date(2026, 1, 1 + i % 28)) for i, a in enumerate(amounts))
        statement = client_statement(client.pk)
        assert client_balance(client.pk) == sum(amounts, Decimal("0.00")) == statement.balance
        running = Decimal("0.00")
        for line in statement.lines:
            running += line.amount
            assert line.balance == running
    connection.set_schema_to_public()


def test_a_statement_brings_the_balance_forward(alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        client = _client()
        LedgerEntry.objects.bulk_create([
            LedgerEntry(client=client, kind="adjustment", amount=Decimal("1000.00"), booked_on=date(2026, 9, 1)),
            LedgerEntry(client=client, kind="invoice", amount=Decimal("850.00"), booked_on=date(2026, 10, 5), reference="INV-1"),
            LedgerEntry(client=client, kind="payment", amount=Decimal("-1200.00"), booked_on=date(2026, 10, 20), reference="QJK1"),
            LedgerEntry(client=client, kind="invoice", amount=Decimal("900.00"), booked_on=date(2026, 11, 5), reference="INV-2"),
        ])
        october = client_statement(client.pk, start=date(2026, 10, 1), end=date(2026, 10, 31))
        assert october.previous_balance == Decimal("1000.00")
        assert [ln.balance for ln in october.lines] == [Decimal("1850.00"), Decimal("650.00")]
        assert october.totals == {"invoice": Decimal("850.00"), "payment": Decimal("-1200.00")}
        assert client_statement(client.pk).balance == Decimal("1550.00")


def test_the_statement_api_pages_and_portal(alpha, alpha_api, beta_api) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        from accounts.models import User

        client = _client(opening_balance="300")
        client.user = User.objects.get(email="carol@alpha.test")
        client.save(update_fields=["user"])
    connection.set_schema_to_public()
    body = alpha_api.get(f"/api/v1/clients/{client.pk}/statement/").json()
    assert body["balance"] == "300.00"
    assert body["entries"][0] | {"date": "x"} == {"date": "x", "kind": "opening_balance",
                                                 "reference": client.account_number, "amount": "300.00",
                                                 "balance": "300.00"}
    assert beta_api.get(f"/api/v1/clients/{client.pk}/statement/").status_code == 404
    accountant = Http(HTTP_HOST="alpha.majismart.localhost")
    login(accountant, "anne@alpha.test")
    assert b'data-testid="balance">KES 300.00<' in accountant.get(f"/dashboard/clients/{client.pk}/statement/").content
    reader = Http(HTTP_HOST="alpha.majismart.localhost")
    login(reader, "ari@alpha.test")
    assert reader.get(f"/dashboard/clients/{client.pk}/statement/").status_code == 403
    carol = Http(HTTP_HOST="alpha.majismart.localhost")
    login(carol, "carol@alpha.test")
    assert b'data-testid="balance">KES 300.00<' in carol.get("/portal/statement/").content


def test_imported_clients_open_their_ledgers_too(alpha) -> None:  # type: ignore[no-untyped-def]
    import io

    from clients.imports import clients_import

    with tenant_context(alpha):
        summary = clients_import(io.StringIO("full_name,category,opening_balance\nA,domestic,120\nB,domestic,0\n"),
                                 actor="t")
        assert summary.created == 2
        imported = [c.pk for c in Client.objects.all() if c.full_name in ("A", "B")]
        assert list(LedgerEntry.objects.filter(client_id__in=imported).values_list("amount", flat=True)) == [
            Decimal("120.00")]
