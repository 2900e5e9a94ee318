"""Writes for billing: tariff versions, the ledger, number sequences, credit notes and
adjustments. Billing runs (compute, recompute, finalise) are in billing/runs.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.services import actor_user, audit
from billing.models import BillingSettings, CreditNote, Invoice, LedgerEntry, Tariff, TariffBlock
from clients.models import Category, Client
from majismart.badinput import MSG_NUL, NUL, nul_errors
from majismart.money import exponent, kes

MSG_BLOCKS_EMPTY = "Give at least one block; the last one has no upper limit."
MSG_BLOCKS_ORDER = "Block limits must increase, and only the last block may be open-ended."
MSG_BLOCK_LAST_OPEN = "The last block must be open-ended (up_to null) so every volume is priced."
MSG_AMOUNT = "Enter an amount in KES with at most 2 decimals, not negative."
MSG_PERCENT = "Enter a percentage between 0 and 500."
MSG_VERSION_TAKEN = "This category already has a tariff version starting on {day}."
MSG_CATEGORY = "Unknown category “{value}”."


def _amount(raw: object, field: str, errors: dict[str, list[str]], *, places: int = 2, top: Decimal | None = None) -> Decimal:
    try:
        value = Decimal(str(raw if raw not in (None, "") else "0"))
    except InvalidOperation:
        errors.setdefault(field, []).append(MSG_AMOUNT)
        return Decimal(0)
    if not value.is_finite() or value < 0 or exponent(value) < -places or (top is not None and value > top):
        errors.setdefault(field, []).append(MSG_PERCENT if top is not None else MSG_AMOUNT)
        return Decimal(0)
    return value


def clean_tariff(data: dict[str, object]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The fields of a tariff version and its blocks, checked; shared by the API and the page."""
    errors: dict[str, list[str]] = nul_errors(data)
    out: dict[str, Any] = {}  # tariff_create's arguments
    if errors:  # before any lookup: the database cannot compare text holding a NUL
        return out, errors
    for name in ("code", "name"):
        value = str(data.get(name) or "").strip()
        if not value:
            errors.setdefault(name, []).append("This field is required.")
        out[name] = value[:100]
    category = Category.objects.filter(code=str(data.get("category") or "").strip()).first()
    if category is None:
        errors.setdefault("category", []).append(MSG_CATEGORY.format(value=data.get("category")))
    out["category"] = category
    day = data.get("effective_from") or timezone.localdate().isoformat()
    try:
        out["effective_from"] = day if isinstance(day, date) else date.fromisoformat(str(day))
    except ValueError:
        errors.setdefault("effective_from", []).append("Enter a date as YYYY-MM-DD.")
    for name in ("fixed_charge", "meter_rent", "minimum_charge"):
        out[name] = _amount(data.get(name), name, errors)
    out["sewerage_percent"] = _amount(data.get("sewerage_percent"), "sewerage_percent", errors, top=Decimal(500))
    blocks = data.get("blocks")
    cleaned_blocks: list[tuple[Decimal | None, Decimal]] = []
    if not isinstance(blocks, list) or not blocks:
        errors.setdefault("blocks", []).append(MSG_BLOCKS_EMPTY)
    else:
        previous = Decimal(0)
        for i, block in enumerate(blocks):
            if not isinstance(block, dict):
                errors.setdefault("blocks", []).append(f"Block {i + 1}: give up_to and price.")
                continue
            price = _amount(block.get("price"), "blocks", errors)
            up_raw = block.get("up_to")
            up_to = None
            if up_raw not in (None, ""):
                up_to = _amount(up_raw, "blocks", errors, places=3)
                if up_to <= previous or i == len(blocks) - 1:
                    errors.setdefault("blocks", []).append(
                        MSG_BLOCK_LAST_OPEN if i == len(blocks) - 1 else MSG_BLOCKS_ORDER)
                previous = up_to
            elif i != len(blocks) - 1:
                errors.setdefault("blocks", []).append(MSG_BLOCKS_ORDER)
            cleaned_blocks.append((up_to, price))
    out["blocks"] = cleaned_blocks
    if not errors and Tariff.objects.filter(category=category, effective_from=out["effective_from"]).exists():
        errors["effective_from"] = [MSG_VERSION_TAKEN.format(day=out["effective_from"])]
    errors = {k: sorted(set(v), key=v.index) for k, v in errors.items()}
    return out, errors


@transaction.atomic
def tariff_create(*, actor: object, blocks: Sequence[tuple[Decimal | None, Decimal]], **fields: object) -> Tariff:
    tariff = Tariff.objects.create(created_by=actor_user(actor), **fields)
    TariffBlock.objects.bulk_create(
        TariffBlock(tariff=tariff, position=i, up_to=up_to, price=price) for i, (up_to, price) in enumerate(blocks))
    # Tariffs are money configuration: who set which prices, from when.
    audit(actor=actor, action="tariff.created", object_repr=str(tariff), client_category=tariff.category.code,
          effective_from=tariff.effective_from.isoformat(),
          blocks=[[None if u is None else str(u), str(p)] for u, p in blocks])
    return tariff


def opening_balances_post(clients: Sequence[Client], *, actor: object = None) -> int:
    """One opening-balance entry per client migrated with arrears or credit (bulk: one INSERT)."""
    entries = [LedgerEntry(client=c, kind=LedgerEntry.Kind.OPENING_BALANCE, amount=c.opening_balance,
                           booked_on=timezone.localdate(c.created) if c.created else timezone.localdate(),
                           reference=c.account_number, description="Balance brought forward from the previous system",
                           created_by=actor_user(actor))
               for c in clients if c.opening_balance]
    LedgerEntry.objects.bulk_create(entries, batch_size=2000)
    return len(entries)


def sequence_take(name: str, count: int = 1) -> int:
    """Take `count` consecutive numbers of sequence `name`, gapless; returns the first. The one
    way a number is taken: a credit note's one, a billing run's block of invoice numbers.

    Must run inside the transaction that stores the numbered documents: the UPDATE locks the
    counter row until that transaction ends, so concurrent issuers queue instead of racing, and
    a rollback returns the numbers (no gaps, no duplicates).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("sequence_take() must run inside the transaction that uses the number")
    if count < 1:
        raise ValueError("count must be at least 1")
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO billing_numbersequence (name, next_value) VALUES (%s, 1) "
                       "ON CONFLICT (name) DO NOTHING", [name])
        cursor.execute("UPDATE billing_numbersequence SET next_value = next_value + %s WHERE name = %s "
                       "RETURNING next_value - %s", [count, name, count])
        first: int = cursor.fetchone()[0]
        return first


def invoice_number_take(year: int) -> str:
    return f"INV-{year}-{sequence_take(f'INV-{year}'):06d}"


MSG_CREDIT_REASON = "Give the reason for the credit note."
MSG_CREDIT_NOT_ISSUED = "Only an issued invoice can be credited; a draft is recomputed instead."
MSG_CREDIT_POSITIVE = "The amount must be more than zero."
MSG_CREDIT_TOO_MUCH = "This invoice can be credited at most {left} more."
MSG_CREDIT_FORMAT = "Enter an amount in KES with at most 2 decimals."
MSG_ADJUSTMENT_ZERO = "The amount must not be zero: positive raises what the client owes, negative lowers it."


def _signed_amount(raw: object, field: str) -> Decimal:
    try:
        value = Decimal(str(raw).strip().replace(",", ""))
    except (InvalidOperation, AttributeError):
        raise ValidationError({field: [MSG_CREDIT_FORMAT]}) from None
    if not value.is_finite() or exponent(value) < -2 or abs(value) >= Decimal("1e10"):
        raise ValidationError({field: [MSG_CREDIT_FORMAT]})
    return value


def _reason(raw: object) -> str:
    reason = str(raw or "").strip()
    if not reason:
        raise ValidationError({"reason": [MSG_CREDIT_REASON]})
    if NUL in reason:
        raise ValidationError({"reason": [MSG_NUL]})
    return reason[:300]


def clean_amount_and_reason(data: Mapping[str, object]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """`{amount, reason}` of a credit note or an adjustment, checked as credit_note_create and
    adjustment_post check them, for a body checked before either runs: the cleaned values, or
    the first fault."""
    try:
        return {"amount": _signed_amount(data.get("amount", ""), "amount"), "reason": _reason(data.get("reason", ""))}, {}
    except ValidationError as exc:
        return {}, exc.message_dict


def invoice_credited(invoice_id: int) -> Decimal:
    return CreditNote.objects.filter(invoice_id=invoice_id).aggregate(s=Sum("amount"))["s"] or Decimal("0.00")


@transaction.atomic
def credit_note_create(*, invoice: Invoice, amount: object, reason: object, actor: object) -> CreditNote:
    """Void an issued invoice in full or in part: a numbered credit note and a ledger credit.
    The invoice itself is never changed."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)  # two credits at once must not overshoot
    if invoice.status != Invoice.Status.ISSUED:
        raise ValidationError({"invoice": [MSG_CREDIT_NOT_ISSUED]})
    value = _signed_amount(amount, "amount")
    why = _reason(reason)
    if value <= 0:
        raise ValidationError({"amount": [MSG_CREDIT_POSITIVE]})
    left = invoice.total - invoice_credited(invoice.pk)
    if value > left:
        raise ValidationError({"amount": [MSG_CREDIT_TOO_MUCH.format(left=kes(max(left, Decimal(0))))]})
    today = timezone.localdate()
    note = CreditNote.objects.create(
        number=f"CN-{today.year}-{sequence_take(f'CN-{today.year}'):06d}", invoice=invoice, client_id=invoice.client_id,
        amount=value, reason=why, issued_on=today, created_by=actor_user(actor))
    LedgerEntry.objects.create(client_id=invoice.client_id, kind=LedgerEntry.Kind.CREDIT_NOTE, amount=-value,
                               booked_on=today, reference=note.number, invoice=invoice,
                               description=f"Credit note on {invoice.number}: {why}"[:200],
                               created_by=note.created_by)
    audit(actor=actor, action="credit_note.created", object_repr=f"{note.number} on {invoice.number}",
          amount=str(value), reason=why, full=value == left)
    return note


@transaction.atomic
def adjustment_post(*, client: Client, amount: object, reason: object, actor: object) -> LedgerEntry:
    """A manual correction of what a client owes (a fee, a goodwill credit), with its reason."""
    value = _signed_amount(amount, "amount")
    why = _reason(reason)
    if value == 0:
        raise ValidationError({"amount": [MSG_ADJUSTMENT_ZERO]})
    today = timezone.localdate()
    entry = LedgerEntry.objects.create(
        client=client, kind=LedgerEntry.Kind.ADJUSTMENT, amount=value, booked_on=today,
        reference=f"ADJ-{today.year}-{sequence_take(f'ADJ-{today.year}'):06d}", description=why[:200],
        created_by=actor_user(actor))
    audit(actor=actor, action="adjustment.posted", object_repr=f"{entry.reference} for {client.account_number}",
          target=client, amount=str(value), reason=why)
    return entry


def clean_billing_rules(data: object) -> tuple[dict[str, Any], dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}  # billing_rules_update's arguments
    for name, top in (("due_days", 120), ("penalty_grace_days", 120)):
        raw = str(data.get(name, "")).strip()  # type: ignore[attr-defined]
        if not raw.isdigit() or int(raw) > top:
            errors[name] = [f"Enter a whole number of days from 0 to {top}."]
        else:
            out[name] = int(raw)
    out["penalty_percent"] = _amount(data.get("penalty_percent"), "penalty_percent", errors,  # type: ignore[attr-defined]
                                     top=Decimal(100))
    if "penalty_percent" in errors:
        errors["penalty_percent"] = ["Enter a percentage between 0 and 100 (0 for no penalty)."]
    return out, errors


@transaction.atomic
def billing_rules_update(*, actor: object, due_days: int, penalty_percent: Decimal, penalty_grace_days: int) -> BillingSettings:
    rules = BillingSettings.load()
    before = {"due_days": rules.due_days, "penalty_percent": str(rules.penalty_percent),
              "penalty_grace_days": rules.penalty_grace_days}
    rules.due_days, rules.penalty_percent, rules.penalty_grace_days = due_days, penalty_percent, penalty_grace_days
    rules.save()
    audit(actor=actor, action="billing_rules.updated", object_repr=str(rules), before=before,
          after={"due_days": due_days, "penalty_percent": str(penalty_percent), "penalty_grace_days": penalty_grace_days})
    return rules


@transaction.atomic
def disconnected_billing_set(*, value: bool, actor: object) -> BillingSettings:
    """Whether a disconnected client is billed its fixed charge and meter rent each period (the
    arrears settings page asks it next to the disconnection rule)."""
    rules = BillingSettings.load()
    if rules.disconnected_fixed_charges != value:
        rules.disconnected_fixed_charges = value
        rules.save(update_fields=["disconnected_fixed_charges", "updated"])
        audit(actor=actor, action="billing_rules.updated", object_repr=str(rules),
              before={"disconnected_fixed_charges": not value}, after={"disconnected_fixed_charges": value})
    return rules


MSG_REVERSE_KIND = ("Only a manual adjustment can be reversed; an invoice (and its estimate correction) "
                    "is corrected by a credit note.")
MSG_REVERSED_ALREADY = "This entry has already been reversed."


@transaction.atomic
def entry_reverse(*, entry: LedgerEntry, reason: object, actor: object) -> LedgerEntry:
    """Undo an adjustment posted in error: a reversing entry of the opposite amount (the
    original stays, as every entry does). Each entry can be reversed once."""
    entry = LedgerEntry.objects.select_for_update().get(pk=entry.pk)
    why = _reason(reason)
    if entry.kind != LedgerEntry.Kind.ADJUSTMENT or entry.invoice_id is not None:
        raise ValidationError({"entry": [MSG_REVERSE_KIND]})
    if LedgerEntry.objects.filter(reverses=entry).exists():
        raise ValidationError({"entry": [MSG_REVERSED_ALREADY]})
    reversal = LedgerEntry.objects.create(
        client_id=entry.client_id, kind=LedgerEntry.Kind.REVERSAL, amount=-entry.amount,
        booked_on=timezone.localdate(), reference=entry.reference, reverses=entry,
        description=f"Reversal of {entry.reference}: {why}"[:200],
        created_by=actor_user(actor))
    audit(actor=actor, action="ledger.reversed", object_repr=entry.reference, amount=str(entry.amount), reason=why)
    return reversal
