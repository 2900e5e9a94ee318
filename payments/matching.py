"""Which client a payment is for: the one account-matching rule, for a callback, a drain's batch
and a statement's rows alike. What the payer typed is matched trimmed and in any case, through
the index on UPPER(account_number); a disconnected client still pays arrears, only a closed
account takes no money."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet
from django.db.models.functions import Upper

from clients.models import Client
from majismart.badinput import NUL
from majismart.sql import AnyOf


def account_key(reference: str | None) -> str:
    """What the payer typed as the account number, as it is matched: trimmed, any case. Empty
    when nothing can match (nothing typed, or a NUL no account number holds)."""
    reference = (reference or "").strip()
    if not reference or NUL in reference:
        return ""
    return reference.upper()


_ACCOUNT_UPPER = Upper("account_number")
_TAKES_MONEY = ~Q(status=Client.Status.CLOSED)


def clients_taking_money(keys: list[str]) -> QuerySet[Client]:
    """The clients that take money whose account number is one of `keys` (each an account_key):
    one statement, the keys passed as one array."""
    return Client.objects.filter(_TAKES_MONEY, AnyOf(_ACCOUNT_UPPER, keys))


def client_for_account(reference: str) -> Client | None:
    """The client whose account number the payer typed: one lookup, for every callback."""
    key = account_key(reference)
    if not key:
        return None
    return Client.objects.annotate(account_upper=_ACCOUNT_UPPER).filter(_TAKES_MONEY, account_upper=key).first()


def clients_for_accounts(references: Iterable[str]) -> dict[str, int]:
    """{account_key: client id} for many typed references in one lookup (a drain batch)."""
    keys = sorted({key for key in map(account_key, references) if key})
    if not keys:
        return {}
    return dict(clients_taking_money(keys).values_list(_ACCOUNT_UPPER, "id"))
