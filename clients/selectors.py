from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from clients.models import Client
from majismart.crypto import blind_index, word_tokens
from majismart.phones import normalize_phone

if TYPE_CHECKING:
    from accounts.models import User


def name_matches(query: str, prefix: str = "") -> Q:
    """Clients whose name holds every whole word of `query` (any case, any order): the names are
    encrypted, so their keyed word tokens are matched (GIN index, `@>`). `prefix` reaches the
    client through a relation (e.g. "client__")."""
    tokens = word_tokens(query)
    return Q(**{f"{prefix}name_tokens__contains": tokens}) if tokens else Q(pk__in=[])


def client_search(*, query: str = "", status: str = "", category: str = "", zone: str = "") -> QuerySet[Client]:
    """Clients matching a name (by whole words), account number (prefix) or phone (through its
    blind index)."""
    qs = Client.objects.select_related("category", "zone")
    query = query.strip()
    if query:
        condition = name_matches(query) | Q(account_number__istartswith=query)
        digits = "".join(ch for ch in query if ch.isdigit() or ch == "+")
        if len(digits) >= 9:
            try:
                condition |= Q(phone_index=blind_index(normalize_phone(query)))
            except ValidationError:
                pass
        qs = qs.filter(condition)
    if status:
        qs = qs.filter(status=status)
    if category:
        qs = qs.filter(category__code=category)
    if zone:
        qs = qs.filter(zone__code=zone)
    return qs.order_by("account_number")


def own_client(user: object) -> Client | None:
    """The water account a portal login belongs to (None for a login without one)."""
    return Client.objects.filter(user=cast("User", user)).select_related("category").first()  # a signed-in user


def open_clients_by_account(accounts: Iterable[str]) -> QuerySet[Client]:
    """The clients not closed whose account number, upper-cased, is one of `accounts`: one query
    on the index of UPPER(account_number), the numbers passed as one array (however many)."""
    return Client.objects.filter(pk__in=RawSQL(
        "SELECT id FROM clients_client WHERE upper(account_number) = ANY(%s) AND status <> 'closed'",
        [sorted(accounts)]))
