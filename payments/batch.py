"""C2B confirmations processed in sets: a batch of stored callbacks becomes its payments,
allocations, ledger entries and inbox verdicts in a handful of statements, not a dozen queries
per callback. The same rules as one at a time (payments.mpesa.c2b_confirmation_process): one
payment per receipt (INSERT … ON CONFLICT), matched by account number, oldest invoice first,
overpayment left as credit, unmatched kept for reconciliation. A batch that fails for a reason
nobody foresaw is retried row by row, so one bad callback never holds up the others."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import cast

from django.db import connection, transaction
from django.utils import timezone

from billing.models import LedgerEntry
from clients.services import clients_lock
from majismart import crypto
from majismart.badinput import printable
from majismart.crypto import sealed
from payments import daraja
from payments.allocation import allocate_oldest_first, open_balances, payments_ledger_link
from payments.callbacks import inbox_process
from payments.inbox import UNDECRYPTABLE
from payments.matching import account_key, clients_for_accounts
from payments.models import Allocation, CallbackInbox, Payment, PaymentRequest
from payments.services import close_waiting_request
from payments.signals import payments_settled

log = logging.getLogger(__name__)
BATCH = 500


@dataclass
class _Row:
    inbox_id: int
    receipt: str = ""
    amount: Decimal = Decimal("0")
    paid_at: datetime | None = None
    reference: str = ""
    payer: str = ""
    name: str = ""
    client_id: int | None = None
    status: str = CallbackInbox.Status.PROCESSED
    note: str = ""
    held: bool = False  # for review in reconciliation, whatever account it names


def _opened(inbox_id: int, stored: str, received: datetime) -> _Row:
    """A stored body, decrypted and read. One no configured key opens is flagged as such; the
    sweeper puts it back in the queue once the keys open it (payments.inbox.inbox_reopen_decryptable)."""
    try:
        body = crypto.decrypt(stored) if stored else ""
    except ValueError as exc:
        row = _Row(inbox_id)
        row.status = CallbackInbox.Status.INVALID
        if isinstance(exc, crypto.Undecryptable):
            log.error("Callback %s: its body cannot be decrypted with any configured key", inbox_id)
            row.note = UNDECRYPTABLE
        else:  # stored by something other than the endpoint, not as a token
            row.note = f"Could not be read: {exc}"[:300]
        return row
    return _parse(inbox_id, body, received)


def _parse(inbox_id: int, body: str, received: datetime) -> _Row:
    row = _Row(inbox_id)
    try:
        data = json.loads(body)
        row.receipt = daraja.read_receipt(data["TransID"])
        row.amount = daraja.read_amount(data["TransAmount"])
        row.paid_at, row.note = daraja.trans_time_or_held(data.get("TransTime"), received)
    except (ValueError, KeyError, TypeError, InvalidOperation, AttributeError) as exc:
        row.status, row.note = CallbackInbox.Status.INVALID, f"Could not be read: {type(exc).__name__} {exc}"[:300]
        return row
    row.held = bool(row.note)
    row.reference = printable(str(data.get("BillRefNumber") or ""))[:64]
    row.payer = printable(str(data.get("MSISDN") or ""))[:120]
    row.name = daraja.payer_name(data)[:200]
    return row


def process_confirmations(limit: int = BATCH) -> int:
    """Process up to `limit` stored C2B confirmations (oldest first) as one set; returns how
    many callbacks were settled. Rows another worker holds are skipped."""
    try:
        with transaction.atomic():
            return _process(limit)
    except Exception:  # noqa: BLE001 - fall back to one at a time: the bad row is flagged there
        log.exception("Batch of C2B confirmations failed; processing them one by one")
        ids = list(CallbackInbox.objects.filter(kind=CallbackInbox.Kind.C2B_CONFIRMATION,
                                                status=CallbackInbox.Status.RECEIVED)
                   .order_by("id").values_list("id", flat=True)[:limit])
        return sum(inbox_process(i) not in ("taken", "waiting") for i in ids)


def _process(limit: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, body, received FROM payments_callbackinbox WHERE kind = %s AND status = %s "
            "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
            [CallbackInbox.Kind.C2B_CONFIRMATION, CallbackInbox.Status.RECEIVED, limit])
        # Bodies are stored encrypted (payments.inbox.confirmation_store): decrypted here, in bulk.
        rows = [_opened(i, body, received) for i, body, received in cursor.fetchall()]
    if not rows:
        return 0
    good = [r for r in rows if r.status != CallbackInbox.Status.INVALID]
    # Accounts: one lookup for the batch, by the rule every payment path matches with.
    accounts = clients_for_accounts(r.reference for r in good)
    for r in good:
        r.client_id = None if r.held else accounts.get(account_key(r.reference))
    # One payment of a client at a time, as one by one (rows taken in id order: no deadlocks).
    clients_lock(r.client_id for r in good if r.client_id)
    # One payment per receipt: the unique constraint decides, for this batch and any other.
    created: dict[str, int] = {}
    first_of: dict[str, _Row] = {}
    for r in good:
        first_of.setdefault(r.receipt, r)
    now = timezone.now()
    if first_of:
        values = [(r.receipt, Payment.Method.MPESA, r.amount, r.client_id,
                   Payment.Status.MATCHED if r.client_id else Payment.Status.UNMATCHED, r.paid_at, r.reference,
                   sealed(r.payer), sealed(r.name), r.inbox_id, now) for r in first_of.values()]
        placeholders = ", ".join(["(%s, %s, %s::numeric, %s::bigint, %s, %s::timestamptz, %s, %s, %s, %s::bigint, %s::timestamptz)"]
                                 * len(values))
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO payments_payment (receipt, method, amount, client_id, status, paid_at, account_reference, "  # noqa: S608 - identifiers from our code; values are bound parameters
                f"payer, payer_name, inbox_id, created) VALUES {placeholders} "
                "ON CONFLICT (method, receipt) DO NOTHING RETURNING receipt, id",
                [v for row in values for v in row])
            created = dict(cursor.fetchall())
    for r in good:
        if first_of[r.receipt] is not r or r.receipt not in created:
            r.status, r.note = CallbackInbox.Status.DUPLICATE, f"Already recorded: {r.receipt}"
    fresh = [r for r in good if r.status == CallbackInbox.Status.PROCESSED and r.client_id]
    if fresh:
        _settle_all(fresh, created)
    _mark(rows)
    return len(rows)


def _settle_all(rows: list[_Row], created: dict[str, int]) -> None:
    """Allocate the new matched payments oldest invoice first (a client's payments in arrival
    order) and post them to the ledger: two queries and three bulk writes."""
    # The caller passes matched rows only: each has its client.
    client_ids = sorted({cast(int, r.client_id) for r in rows})
    Allocation.objects.bulk_create(allocate_oldest_first(
        [(created[r.receipt], cast(int, r.client_id), r.amount) for r in sorted(rows, key=lambda x: (x.paid_at, x.inbox_id))],
        open_balances(client_ids)))
    entries = LedgerEntry.objects.bulk_create([
        LedgerEntry(client_id=cast(int, r.client_id), kind=LedgerEntry.Kind.PAYMENT, amount=-r.amount,
                    booked_on=timezone.localdate(r.paid_at), reference=r.receipt, description="M-Pesa payment")
        for r in rows])
    pairs = [(created[r.receipt], e.pk) for r, e in zip(rows, entries, strict=True)]
    payments_settled.send(sender=Payment, payment_ids=[payment for payment, _ in pairs])  # one task for the batch's receipts
    payments_ledger_link(pairs)
    # STK requests waiting for these payments (M-Pesa said "paid" by query, or a paybill
    # confirmation beat the STK callback): only for clients that have any.
    waiting = set(PaymentRequest.objects.filter(
        client_id__in=client_ids, channel=PaymentRequest.Channel.STK, payment__isnull=True,
        status__in=[PaymentRequest.Status.CONFIRMED, PaymentRequest.Status.PENDING]).values_list("client_id", flat=True))
    if waiting:
        for payment in Payment.objects.filter(pk__in=[created[r.receipt] for r in rows if r.client_id in waiting]):
            close_waiting_request(payment)


def _mark(rows: list[_Row]) -> None:
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE payments_callbackinbox i SET status = v.status, note = v.note, processed = %s FROM (VALUES "  # noqa: S608 - identifiers from our code; values are bound parameters
            + ", ".join(["(%s::bigint, %s, %s)"] * len(rows)) + ") AS v(id, status, note) WHERE i.id = v.id",
            [now, *[x for r in rows for x in (r.inbox_id, r.status, printable(r.note)[:300])]])
