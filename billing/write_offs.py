"""Bad debt written off (issue 19): the ledger side. Who may and when (a closed account, the
owner) is decided above, in arrears; here one entry of kind write_off brings the balance to 0."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.services import actor_user
from billing.models import LedgerEntry
from billing.selectors import client_balance
from billing.services import sequence_take
from clients.models import Client
from clients.services import clients_lock


@transaction.atomic
def write_off_post(*, client: Client, reason: str, actor: object) -> LedgerEntry | None:
    """Post minus the client's balance as a write-off (None when it owes nothing)."""
    clients_lock([client.pk])  # a payment booked meanwhile would leave a balance the entry does not clear
    balance = client_balance(client.pk)
    if balance <= Decimal(0):
        return None
    today = timezone.localdate()
    return LedgerEntry.objects.create(
        client=client, kind=LedgerEntry.Kind.WRITE_OFF, amount=-balance, booked_on=today,
        reference=f"BD-{today.year}-{sequence_take(f'BD-{today.year}'):06d}", description=reason[:200],
        created_by=actor_user(actor))
