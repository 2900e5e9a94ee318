"""Fees and deposits: the provider's catalogue and charging a client (issue 19). A charge is in
the client's ledger (and balance) the moment it is made."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.services import actor_user, audit
from billing.models import Charge, Fee, LedgerEntry
from billing.services import sequence_take
from clients.models import Client

MSG_NO_SUCH_FEE = "There is no fee with the code “{code}”."
MSG_FEE_INACTIVE = "The fee “{code}” is no longer in use."
MSG_AMOUNT = "Enter an amount in KES greater than 0, e.g. 1500.00."


def charge_amount(raw: object, default: Decimal) -> Decimal:
    """The amount of a charge: the fee's own when none is given."""
    if raw in (None, ""):
        return default
    try:
        value = Decimal(str(raw).replace(",", "").strip())
    except InvalidOperation:
        raise ValidationError({"amount": [MSG_AMOUNT]}) from None
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")) or value >= Decimal("1e10"):
        raise ValidationError({"amount": [MSG_AMOUNT]})
    return value


@transaction.atomic
def fee_charge(*, client: Client, code: str, amount: object = None, note: str = "", actor: Any = None) -> Charge:
    """Charge `client` the catalogue fee `code` (its amount unless `amount` is given): the ledger
    entry is posted now; the charge shows on the client's next bill."""
    fee = Fee.objects.filter(code=str(code or "").strip()).first()
    if fee is None:
        raise ValidationError({"fee": [MSG_NO_SUCH_FEE.format(code=code)]})
    if not fee.active:
        raise ValidationError({"fee": [MSG_FEE_INACTIVE.format(code=code)]})
    value = charge_amount(amount, fee.amount)
    if value <= 0:
        raise ValidationError({"amount": [MSG_AMOUNT]})
    today = timezone.localdate()
    kind = LedgerEntry.Kind.DEPOSIT if fee.kind == Fee.Kind.DEPOSIT else LedgerEntry.Kind.FEE
    entry = LedgerEntry.objects.create(
        client=client, kind=kind, amount=value, booked_on=today,
        reference=f"CHG-{today.year}-{sequence_take(f'CHG-{today.year}'):06d}", description=fee.name[:200],
        created_by=actor_user(actor))
    charge = Charge.objects.create(client=client, fee=fee, kind=fee.kind, description=fee.name, amount=value,
                                   note=str(note or "")[:300], ledger_entry=entry, created_by=actor_user(actor))
    audit(actor=actor, action="fee.charged", object_repr=f"{entry.reference} for {client.account_number}",
          target=client, fee=fee.code, amount=str(value))
    return charge
