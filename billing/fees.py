"""Fees and deposits: the provider's catalogue and charging a client (issue 19). A charge is in
the client's ledger (and balance) the moment it is made.

How a charge reaches a bill. Either the next billing run puts it on the client's bill as its own
line (kind fee or deposit; the bill's total includes it, but the bill's ledger entry leaves it
out, since the charge was posted when it was made), or staff bill it at once: a one-off invoice
of its own (no run, no tariff) with the next gapless invoice number, whose ledger entry is the
charge's. Either way the charge points at the invoice that billed it.

Reversal. A billed charge is reversed like any charge on a bill: a credit note on that invoice
(billing.services.credit_note_create). A charge on no bill yet is reversed by a reversal entry
in the ledger, and no bill will carry it.

Deposits held. A deposit, once paid, is money the provider holds: payments settle the oldest
debts first (the rule of billing.selectors.invoices_with_dues), so a deposit is paid by what was
paid after the debts older than it, and bills that come later never eat into it: what a client
owes on later bills stays owed. At account closure the deposit held is applied to the balance
(ledger kind deposit_applied) and what is left over refunded (payments.services.account_close)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.services import actor_user, audit
from billing.models import BillingSettings, Charge, Fee, Invoice, InvoiceLine, LedgerEntry
from billing.services import credit_note_create, invoice_number_take, sequence_take
from clients.models import Client
from majismart.badinput import nul_errors

MSG_NO_SUCH_FEE = "There is no fee with the code “{code}”."
MSG_FEE_INACTIVE = "The fee “{code}” is no longer in use."
MSG_AMOUNT = "Enter an amount in KES greater than 0, e.g. 1500.00."
MSG_FEE_AMOUNT = "Enter an amount in KES with at most 2 decimals, 0 or more, e.g. 1500.00."
MSG_CODE = "Use lower-case letters, digits and dashes, e.g. reconnection (at most 30)."
MSG_CODE_TAKEN = "A fee with the code “{code}” already exists."
MSG_NAME = "Give the fee a name, e.g. Reconnection fee (at most 100 characters)."
MSG_KIND = "Choose fee or deposit."
MSG_REQUIRED = "This field is required."
MSG_CLOSED = "This account is closed: it can no longer be charged."
MSG_REVERSED = "This charge has already been reversed."
MSG_REASON = "Give the reason for the reversal."
MSG_DEPOSIT_HELD = ("This client has a deposit of {amount} held: close the account with “Close account” on the "
                    "client's page, which applies it to the final bill and refunds the rest.")
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,29}$")

# What a new provider is offered to start its catalogue with (and what the demo providers have).
STARTER_FEES: tuple[tuple[str, str, str, str], ...] = (
    ("connection", "New connection fee", "2500.00", Fee.Kind.FEE),
    ("reconnection", "Reconnection fee", "1000.00", Fee.Kind.FEE),
    ("meter-test", "Meter test fee", "500.00", Fee.Kind.FEE),
    ("meter-replacement", "Meter replacement", "3500.00", Fee.Kind.FEE),
    ("illegal-connection", "Illegal connection penalty", "10000.00", Fee.Kind.FEE),
    ("deposit", "Water deposit", "2000.00", Fee.Kind.DEPOSIT),
)


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


# --- the catalogue ----------------------------------------------------------------------------
def clean_fee(data: Any, *, fee: Fee | None = None) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A fee's fields checked (code, name, amount, kind; `active` on the page); shared by the API
    and the page. `fee`: the one being edited (its own code is not "taken")."""
    errors: dict[str, list[str]] = nul_errors({k: data.get(k) for k in ("code", "name", "amount", "kind")})
    out: dict[str, Any] = {}
    if errors:
        return out, errors
    code = str(data.get("code") or "").strip()
    if not CODE_RE.match(code):
        errors["code"] = [MSG_REQUIRED if not code else MSG_CODE]
    elif Fee.objects.filter(code=code).exclude(pk=fee.pk if fee else 0).exists():
        errors["code"] = [MSG_CODE_TAKEN.format(code=code)]
    out["code"] = code
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 100:
        errors["name"] = [MSG_NAME]
    out["name"] = name
    raw = str(data.get("amount") if data.get("amount") is not None else "").replace(",", "").strip()
    try:
        amount = Decimal(raw)
        if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")) or amount >= Decimal("1e10"):
            raise InvalidOperation
        out["amount"] = amount.quantize(Decimal("0.01"))
    except InvalidOperation:
        errors["amount"] = [MSG_REQUIRED if not raw else MSG_FEE_AMOUNT]
    kind = str(data.get("kind") or Fee.Kind.FEE).strip()
    if kind not in Fee.Kind.values:
        errors["kind"] = [MSG_KIND]
    out["kind"] = kind
    return out, errors


def _fee_fields(fee: Fee) -> dict[str, str | bool]:
    return {"code": fee.code, "name": fee.name, "amount": f"{fee.amount:.2f}", "kind": fee.kind, "active": fee.active}


@transaction.atomic
def fee_create(*, actor: object, code: str, name: str, amount: Decimal, kind: str, active: bool = True) -> Fee:
    fee = Fee(code=code, name=name, amount=amount, kind=kind, active=active)
    fee.full_clean()
    fee.save()
    # The price list is money configuration: who set which price.
    audit(actor=actor, action="fee.created", object_repr=str(fee), after=_fee_fields(fee))
    return fee


@transaction.atomic
def fee_update(*, fee: Fee, actor: object, **fields: Any) -> Fee:
    fee = Fee.objects.select_for_update().get(pk=fee.pk)  # two edits at once: the audit's "before" is true
    before = _fee_fields(fee)
    for name, value in fields.items():
        setattr(fee, name, value)
    fee.full_clean()
    fee.save()
    after = _fee_fields(fee)
    if before != after:
        audit(actor=actor, action="fee.updated", object_repr=str(fee), before=before, after=after)
    return fee


def fees_seed_starter(*, actor: object = "system") -> int:
    """Give a provider with no catalogue the starter set (the demo providers, or "Add the usual
    fees" on the empty Fees page). Returns how many were created."""
    if Fee.objects.exists():
        return 0
    for code, name, amount, kind in STARTER_FEES:
        fee_create(actor=actor, code=code, name=name, amount=Decimal(amount), kind=kind)
    return len(STARTER_FEES)


# --- charging ---------------------------------------------------------------------------------
def clean_charge(data: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A charge's fields checked (fee code, amount, note, bill_now): fee_charge's arguments."""
    errors = nul_errors({k: data.get(k) for k in ("fee", "amount", "note")})
    if errors:
        return {}, errors
    code = str(data.get("fee") or "").strip()
    fee = Fee.objects.filter(code=code).first() if code else None
    if fee is None:
        errors["fee"] = [MSG_NO_SUCH_FEE.format(code=code) if code else MSG_REQUIRED]
    elif not fee.active:
        errors["fee"] = [MSG_FEE_INACTIVE.format(code=code)]
    try:
        amount = charge_amount(data.get("amount"), fee.amount if fee else Decimal("1"))
    except ValidationError as exc:
        errors.update(exc.message_dict)
        amount = None
    if amount is not None and amount <= 0 and "fee" not in errors:
        errors["amount"] = [MSG_AMOUNT]
    bill_now = data.get("bill_now", False)
    return {"code": code, "amount": amount, "note": str(data.get("note") or "")[:300],
            "bill_now": bill_now is True or str(bill_now).lower() in ("1", "true", "on")}, errors


def _bill_now(charge: Charge, client: Client, *, today: Any) -> Invoice:
    """A one-off invoice of the charge alone, with the next gapless invoice number."""
    rules = BillingSettings.load()
    invoice = Invoice.objects.create(
        run=None, client=client, category_id=client.category_id, tariff=None, period=f"{today:%Y-%m}",
        status=Invoice.Status.ISSUED, number=invoice_number_take(today.year), issued_on=today,
        due_date=today + timedelta(days=rules.due_days), consumption=Decimal("0.000"), total=charge.amount)
    InvoiceLine.objects.create(invoice=invoice, position=100, kind=charge.kind, description=charge.description,
                               quantity=1, unit_price=charge.amount, amount=charge.amount)
    return invoice


@transaction.atomic
def fee_charge(*, client: Client, code: str, amount: object = None, note: str = "", actor: Any = None,
               bill_now: bool = False) -> Charge:
    """Charge `client` the catalogue fee `code` (its amount unless `amount` is given): the ledger
    entry is posted now; the charge shows on the client's next bill, or, with `bill_now`, on a
    one-off invoice of its own issued now."""
    fee = Fee.objects.filter(code=str(code or "").strip()).first()
    if fee is None:
        raise ValidationError({"fee": [MSG_NO_SUCH_FEE.format(code=code)]})
    if not fee.active:
        raise ValidationError({"fee": [MSG_FEE_INACTIVE.format(code=code)]})
    value = charge_amount(amount, fee.amount)
    if value <= 0:
        raise ValidationError({"amount": [MSG_AMOUNT]})
    if client.status == Client.Status.CLOSED:
        raise ValidationError({"client": [MSG_CLOSED]})
    today = timezone.localdate()
    kind = LedgerEntry.Kind.DEPOSIT if fee.kind == Fee.Kind.DEPOSIT else LedgerEntry.Kind.FEE
    charge = Charge(client=client, fee=fee, kind=fee.kind, description=fee.name, amount=value,
                    note=str(note or "")[:300], created_by=actor_user(actor))
    invoice = _bill_now(charge, client, today=today) if bill_now else None
    entry = LedgerEntry.objects.create(
        client=client, kind=kind, amount=value, booked_on=today, invoice=invoice,
        reference=invoice.number or "" if invoice else f"CHG-{today.year}-{sequence_take(f'CHG-{today.year}'):06d}",
        description=fee.name[:200], created_by=actor_user(actor))
    charge.ledger_entry, charge.invoice = entry, invoice
    charge.save()
    if invoice is not None:
        InvoiceLine.objects.filter(invoice=invoice).update(charge=charge)
    audit(actor=actor, action="fee.charged", object_repr=f"{entry.reference} for {client.account_number}",
          target=client, fee=fee.code, amount=str(value), billed=invoice.number if invoice else None)
    return charge


def charge_reversed(charge: Charge) -> bool:
    return LedgerEntry.objects.filter(reverses_id=charge.ledger_entry_id).exists()


@transaction.atomic
def charge_reverse(*, charge: Charge, reason: object, actor: object) -> LedgerEntry:
    """Undo a charge: by a credit note on the invoice that billed it (as any charge on a bill),
    or, while it is on no bill yet, by a reversal entry (and no bill will carry it). Returns the
    ledger entry that takes it off the balance."""
    # Two reversals at once must not both pass the "already reversed" check.
    charge = Charge.objects.select_for_update(of=("self",)).select_related("invoice", "ledger_entry").get(pk=charge.pk)
    why = str(reason or "").strip()
    if not why:
        raise ValidationError({"reason": [MSG_REASON]})
    if charge_reversed(charge):
        raise ValidationError({"charge": [MSG_REVERSED]})
    if charge.invoice is not None:
        note = credit_note_create(invoice=charge.invoice, amount=charge.amount,
                                  reason=f"{charge.description}: {why}", actor=actor)
        return LedgerEntry.objects.get(kind=LedgerEntry.Kind.CREDIT_NOTE, reference=note.number)
    entry = LedgerEntry.objects.create(
        client_id=charge.client_id, kind=LedgerEntry.Kind.REVERSAL, amount=-charge.amount,
        booked_on=timezone.localdate(), reference=charge.ledger_entry.reference, reverses_id=charge.ledger_entry_id,
        description=f"Reversal of {charge.description}: {why}"[:200], created_by=actor_user(actor))
    audit(actor=actor, action="fee.reversed", object_repr=charge.ledger_entry.reference, target=("client", charge.client_id),
          amount=str(charge.amount), reason=why[:300])
    return entry


# --- deposits held ------------------------------------------------------------------------------
# Per client: each deposit not reversed is paid in so far as the balance is less than the debts
# booked after it (payments settle the oldest first); what was paid is held, less what closure
# applied. Payments (and their reversals), deposits applied and refunds are money moving, not
# debts, so they are left out of "the debts after it".
_HELD_SQL = """
WITH bal AS (
    SELECT client_id, sum(amount) AS balance,
           coalesce(sum(amount) FILTER (WHERE kind = 'deposit_applied'), 0) AS applied
    FROM billing_ledgerentry WHERE client_id = ANY(%(clients)s) GROUP BY client_id
), dep AS (
    SELECT d.client_id, d.amount,
           coalesce((SELECT sum(l.amount) FROM billing_ledgerentry l
                     LEFT JOIN billing_ledgerentry p ON p.id = l.reverses_id
                     WHERE l.client_id = d.client_id AND (l.booked_on, l.id) > (d.booked_on, d.id)
                       AND l.kind NOT IN ('payment', 'deposit_applied', 'refund')
                       AND NOT (l.kind = 'reversal' AND p.kind = 'payment')), 0) AS later
    FROM billing_ledgerentry d
    WHERE d.client_id = ANY(%(clients)s) AND d.kind = 'deposit'
      AND NOT EXISTS (SELECT 1 FROM billing_ledgerentry r WHERE r.reverses_id = d.id)
)
SELECT bal.client_id, sum(dep.amount) AS charged,
       greatest(sum(dep.amount - least(dep.amount, greatest(bal.balance - dep.later, 0))) + min(bal.applied), 0) AS held
FROM dep JOIN bal ON bal.client_id = dep.client_id
GROUP BY bal.client_id
"""


@dataclass(frozen=True)
class Deposit:
    charged: Decimal  # deposits charged (not reversed)
    held: Decimal  # of them, paid and not yet applied at closure


def deposits_held(client_ids: list[int]) -> dict[int, Deposit]:
    """Deposits of these clients (one query): charged and held. Clients with none are absent."""
    if not client_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_HELD_SQL, {"clients": list(client_ids)})
        return {pk: Deposit(Decimal(charged), Decimal(held)) for pk, charged, held in cursor.fetchall()}


def deposit_held(client_id: int) -> Decimal:
    found = deposits_held([client_id]).get(client_id)
    return found.held if found else Decimal("0.00")


def deposit_close_guard(client: Client) -> str | None:
    """clients.services.CLOSE_GUARDS: an account holding a deposit is closed by account closure
    (payments.services.account_close), which settles it, never by an edit of its status."""
    held = deposit_held(client.pk)
    return MSG_DEPOSIT_HELD.format(amount=f"KES {held:,.2f}") if held > 0 else None
