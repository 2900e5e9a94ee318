"""Writes for the client register."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F

from accounts.services import audit
from clients.models import Client, ClientSettings
from clients.signals import clients_registered
from clients.validation import MSG_ACCOUNT_TAKEN
from majismart.sql import AnyOf

PERSONAL_FIELDS = ("full_name", "phone", "email", "national_id", "location")
# What may stop an account being closed by an edit, filled in by the apps above in
# AppConfig.ready (billing: a deposit held must be settled by closing the account properly):
# each returns the reason, or None.
CLOSE_GUARDS: list[Callable[[Client], str | None]] = []


def account_numbers_reserve(count: int, *, skip: Iterable[str] = ()) -> list[str]:
    """`count` fresh account numbers from the provider's prefix and sequence.

    One UPDATE … RETURNING claims a block, so concurrent imports never hand out the same
    number; numbers already used by hand-typed accounts (or in `skip`) are stepped over.
    """
    if count <= 0:
        return []
    settings_row = ClientSettings.load()
    taken = {s.upper() for s in skip}
    result: list[str] = []
    while len(result) < count:
        want = count - len(result)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE clients_clientsettings SET next_account_number = next_account_number + %s "
                "WHERE id = %s RETURNING next_account_number - %s",
                [want, settings_row.pk, want],
            )
            start = cursor.fetchone()[0]
        candidates = [settings_row.format(n) for n in range(start, start + want)]
        used = set(Client.objects.filter(account_number__in=candidates).values_list("account_number", flat=True))
        result.extend(c for c in candidates if c not in used and c not in taken)
    return result


def clients_lock(client_ids: Iterable[int]) -> None:
    """Hold these clients' rows until the transaction ends, so that money reaching a client is
    booked one payment at a time (allocations see each other's effect). One statement, rows taken
    in id order: two lockers of overlapping sets never deadlock."""
    ids = sorted(set(client_ids))
    if ids:
        list(Client.objects.select_for_update().filter(AnyOf(F("pk"), ids)).order_by("pk").values_list("pk", flat=True))


@transaction.atomic
def client_create(*, actor: object, **fields: object) -> Client:
    account = str(fields.pop("account_number", "") or "")
    if account and Client.objects.filter(account_number=account).exists():
        raise ValidationError({"account_number": [MSG_ACCOUNT_TAKEN.format(value=account)]})
    client = Client(account_number=account or account_numbers_reserve(1)[0], **fields)
    client.full_clean(exclude=["category", "zone", "user"])
    client.save()
    # The account number only: the audit trail never holds a name in clear.
    audit(actor=actor, action="client.created", object_repr=client.account_number, target=client,
          fields=sorted(name for name, value in fields.items() if value not in ("", None)))
    clients_registered.send(sender=Client, clients=[client], actor=actor)
    return client


@transaction.atomic
def client_update(*, client: Client, actor: object, **fields: object) -> Client:
    # Lock the row: two staff editing the same client must not interleave read-modify-write.
    client = Client.objects.select_for_update().get(pk=client.pk)
    account = fields.get("account_number")
    if account and account != client.account_number and Client.objects.filter(account_number=account).exists():
        raise ValidationError({"account_number": [MSG_ACCOUNT_TAKEN.format(value=account)]})
    if fields.get("status") == Client.Status.CLOSED and client.status != Client.Status.CLOSED:
        for guard in CLOSE_GUARDS:
            reason = guard(client)
            if reason:
                raise ValidationError({"status": [reason]})
    changed = []
    for name, value in fields.items():
        if name == "account_number" and not value:
            continue
        if getattr(client, name) != value:
            setattr(client, name, value)
            changed.append(name)
    if changed:
        client.save(update_fields=changed)
        # Personal values are never copied into the audit trail: only which fields changed.
        audit(actor=actor, action="client.updated", object_repr=client.account_number, target=client,
              fields=sorted(changed))
    return client
