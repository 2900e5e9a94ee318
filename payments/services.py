"""Writes for payments, one at a time: record a payment exactly once, allocate it to the oldest
open invoices and post it to the ledger; give an unmatched one to its client, mark it refunded,
or reverse it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, When
from django.utils import timezone

from accounts.services import actor_user, audit
from billing.fees import deposit_held
from billing.models import LedgerEntry
from billing.selectors import client_balance
from billing.services import sequence_take
from clients.models import Client
from clients.services import client_update, clients_lock
from majismart.badinput import MSG_NUL, NUL
from majismart.crypto import sealed
from majismart.tenancy import connection
from payments.allocation import client_reallocate, payment_allocate
from payments.matching import client_for_account
from payments.models import CallbackInbox, Payment, PaymentRequest
from payments.signals import payments_settled


def _settle(payment: Payment, *, actor: object, note: str = "") -> None:
    """A matched payment: allocated to its client's invoices and posted to the ledger (the
    caller saves `payment.ledger_entry`); its receipt goes out after commit."""
    payment_allocate(payment)
    assert payment.client_id is not None  # matched
    payment.ledger_entry = LedgerEntry.objects.create(
        client_id=payment.client_id, kind=LedgerEntry.Kind.PAYMENT, amount=-payment.amount,
        booked_on=timezone.localdate(payment.paid_at), reference=payment.receipt,
        description=f"{payment.get_method_display()} payment{note}",
        created_by=actor_user(actor))
    payments_settled.send(sender=Payment, payment_ids=[payment.pk])


def close_waiting_request(payment: Payment) -> None:
    """An M-Pesa payment reaching a client by paybill confirmation or statement closes the STK
    request still waiting for it (M-Pesa said "paid" by query, or its callback has not come): the
    one of the same amount from the day before, M-Pesa-confirmed ones first."""
    assert payment.client_id is not None  # it has reached a client
    waiting = (PaymentRequest.objects.filter(
        channel=PaymentRequest.Channel.STK, client_id=payment.client_id, amount=payment.amount, payment__isnull=True,
        status__in=[PaymentRequest.Status.CONFIRMED, PaymentRequest.Status.PENDING],
        created__gte=payment.paid_at - timedelta(days=1), created__lte=payment.paid_at + timedelta(minutes=5))
        # M-Pesa's own "paid" (STK query) first, then the most recent.
        .order_by(Case(When(status=PaymentRequest.Status.CONFIRMED, then=0), default=1), "-created")
        .values_list("pk", flat=True)[:1])
    PaymentRequest.objects.filter(pk__in=list(waiting)).update(
        status=PaymentRequest.Status.PAID, payment=payment, message=f"Paid. M-Pesa receipt {payment.receipt}. Thank you!")


@dataclass
class Recorded:
    payment: Payment
    created: bool


def payment_record(*, method: str, receipt: str, amount: Decimal, paid_at: datetime, client: Client | None,
                   account_reference: str = "", payer: str = "", payer_name: str = "",
                   inbox: CallbackInbox | None = None, actor: object = None, close_request: bool = True) -> Recorded:
    """Record a payment once per (method, receipt): the unique constraint decides (INSERT … ON
    CONFLICT DO NOTHING), so ten deliveries at once make one payment. A matched payment is
    allocated and posted to the ledger in the same transaction; an unmatched one waits in the
    reconciliation queue."""
    with transaction.atomic():
        if client is not None:
            # One payment of a client at a time: allocations see each other's effect.
            clients_lock([client.pk])
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO payments_payment (receipt, method, amount, client_id, status, paid_at, account_reference, "
                "payer, payer_name, inbox_id, recorded_by_id, created) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (method, receipt) DO NOTHING RETURNING id",
                [receipt, method, amount, client.pk if client else None,
                 Payment.Status.MATCHED if client else Payment.Status.UNMATCHED, paid_at, account_reference[:64],
                 sealed(payer[:120]), sealed(payer_name[:200]), inbox.pk if inbox else None,
                 getattr(actor, "pk", None) if getattr(actor, "pk", None) else None, timezone.now()])
            row = cursor.fetchone()
        if row is None:
            return Recorded(Payment.objects.get(method=method, receipt=receipt), False)
        payment = Payment.objects.get(pk=row[0])
        if client is not None:
            _settle(payment, actor=payment.recorded_by)
            payment.save(update_fields=["ledger_entry"])
            if method == Payment.Method.MPESA and close_request:
                close_waiting_request(payment)
        if actor is not None:
            audit(actor=actor, action="payment.recorded", object_repr=f"{method} {receipt}", amount=str(amount))
    return Recorded(payment, True)


MSG_NOT_UNMATCHED = "Only a payment waiting in reconciliation can be assigned or refunded."
MSG_ACCOUNT = "No open account has number “{value}” (closed accounts take no payments)."


def payment_assign_to(*, payment: Payment, client: Client, actor: object, note: str = " (reconciled)",
                      close_request: bool = True) -> Payment:
    """An unmatched payment given to `client`: allocated and posted as if it had matched on
    arrival (the caller audits when a person did it)."""
    with transaction.atomic():
        clients_lock([client.pk])  # as payment_record: one payment of a client at a time
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status != Payment.Status.UNMATCHED:
            raise ValidationError({"payment": [MSG_NOT_UNMATCHED]})
        payment.client, payment.status = client, Payment.Status.MATCHED
        _settle(payment, actor=actor, note=note)
        payment.save(update_fields=["client", "status", "ledger_entry"])
        if payment.method == Payment.Method.MPESA and close_request:
            close_waiting_request(payment)
    return payment


def payment_assign(*, payment: Payment, account_number: str, actor: object) -> Payment:
    """Give an unmatched payment to the client it was meant for: allocated and posted as if it
    had matched on arrival. Audited."""
    if NUL in account_number:
        raise ValidationError({"account_number": [MSG_NUL]})
    client = client_for_account(account_number)
    if client is None:
        raise ValidationError({"account_number": [MSG_ACCOUNT.format(value=account_number.strip())]})
    with transaction.atomic():
        payment = payment_assign_to(payment=payment, client=client, actor=actor)
        audit(actor=actor, action="payment.assigned", object_repr=f"{payment.receipt} → {client.account_number}",
              amount=str(payment.amount), typed=payment.account_reference)
    return payment


def payment_mark_refunded(*, payment: Payment, reason: str, actor: object) -> Payment:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say how the money was returned (e.g. M-Pesa reversal reference)."]})
    if NUL in reason:
        raise ValidationError({"reason": [MSG_NUL]})
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status != Payment.Status.UNMATCHED:
            raise ValidationError({"payment": [MSG_NOT_UNMATCHED]})
        payment.status = Payment.Status.REFUNDED
        payment.save(update_fields=["status"])
        audit(actor=actor, action="payment.refunded", object_repr=payment.receipt, amount=str(payment.amount),
              reason=reason[:300])
    return payment



MSG_NOT_REVERSIBLE = "Only a matched payment can be reversed (an unmatched one is refunded instead)."


def payment_reverse(*, payment: Payment, reason: str, actor: object) -> Payment:
    """Undo a payment recorded in error (owner or manager): a reversing ledger entry, its
    allocations removed (so its invoices are open again), audited. The payment row stays."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say why the payment is reversed."]})
    if NUL in reason:
        raise ValidationError({"reason": [MSG_NUL]})
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status != Payment.Status.MATCHED or payment.ledger_entry_id is None:
            raise ValidationError({"payment": [MSG_NOT_REVERSIBLE]})
        assert payment.client_id is not None  # matched: checked above
        clients_lock([payment.client_id])  # the reallocation below sees no payment in flight
        original = payment.ledger_entry
        assert original is not None  # posted: checked above
        payment.reversal_entry = LedgerEntry.objects.create(
            client_id=payment.client_id, kind=LedgerEntry.Kind.REVERSAL, amount=-original.amount,
            booked_on=timezone.localdate(), reference=payment.receipt, reverses=original,
            description=f"Reversal of {payment.get_method_display()} payment {payment.receipt}: {reason}"[:200],
            created_by=actor_user(actor))
        undone = [(a.invoice.number, str(a.amount)) for a in payment.allocations.select_related("invoice")]
        payment.allocations.all().delete()
        payment.status, payment.reversed_at = Payment.Status.REVERSED, timezone.now()
        payment.reversed_by = actor_user(actor)
        payment.reversal_reason = reason[:300]
        payment.save(update_fields=["status", "reversal_entry", "reversed_at", "reversed_by", "reversal_reason"])
        client_reallocate(payment.client_id)
        audit(actor=actor, action="payment.reversed", object_repr=payment.receipt, amount=str(payment.amount),
              reason=reason[:300], allocations=undone)
    return payment


MSG_ALREADY_CLOSED = "This account is already closed."
MSG_REFUND_METHOD = "Choose how the refund is paid out: M-Pesa, cash or bank."


@dataclass
class Closure:
    client: Client
    deposit_applied: Decimal
    refund: Payment | None
    balance: Decimal  # what the client still owes after closure (negative: a credit left)


def account_close(*, client: Client, actor: object, refund_method: str = Payment.Method.CASH,
                  refund_reference: str = "") -> Closure:
    """Close an account and settle its deposit: the deposit held is applied to the balance (a
    deposit_applied entry), what it leaves over is refunded to the client (a refund entry and a
    refund payment out, status refunded), and the client is closed. All in one transaction,
    audited. What the client still owes after the deposit stays owed (a write-off is separate)."""
    if refund_method not in (Payment.Method.MPESA, Payment.Method.CASH, Payment.Method.BANK, Payment.Method.CHEQUE):
        raise ValidationError({"refund_method": [MSG_REFUND_METHOD]})
    if NUL in refund_reference:
        raise ValidationError({"refund_reference": [MSG_NUL]})
    with transaction.atomic():
        clients_lock([client.pk])  # no payment lands between the balance read and the entries
        client = Client.objects.get(pk=client.pk)
        if client.status == Client.Status.CLOSED:
            raise ValidationError({"client": [MSG_ALREADY_CLOSED]})
        today, user = timezone.localdate(), actor_user(actor)
        held = deposit_held(client.pk)
        refund: Payment | None = None
        if held > 0:
            LedgerEntry.objects.create(client=client, kind=LedgerEntry.Kind.DEPOSIT_APPLIED, amount=-held,
                                       booked_on=today, reference=client.account_number,
                                       description="Deposit applied to the final bill", created_by=user)
            left = min(held, -client_balance(client.pk))
            if left > 0:
                number = f"REF-{today.year}-{sequence_take(f'REF-{today.year}'):06d}"
                entry = LedgerEntry.objects.create(
                    client=client, kind=LedgerEntry.Kind.REFUND, amount=left, booked_on=today, reference=number,
                    description="Deposit refunded at closure", created_by=user)
                refund = Payment.objects.create(
                    receipt=(refund_reference.strip() or number)[:64], method=refund_method, amount=left, client=client,
                    status=Payment.Status.REFUNDED, paid_at=timezone.now(), account_reference=client.account_number,
                    ledger_entry=entry, recorded_by=user)
        client_update(client=client, actor=actor, status=Client.Status.CLOSED)
        balance = client_balance(client.pk)
        audit(actor=actor, action="client.account_closed", object_repr=client.account_number, target=client,
              deposit_applied=str(held), refunded=str(refund.amount) if refund else "0.00", balance=str(balance))
    return Closure(client, held, refund, balance)
