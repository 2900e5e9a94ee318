"""Payments allocated to invoices, oldest open invoice first (what is left over stays on the
ledger as a credit), and linked to their ledger entries: the set-based pieces every way of
booking payments shares (one at a time in payments.services, in sets in payments.batch and
payments.bank_import)."""

from __future__ import annotations

from decimal import Decimal

from billing.models import Invoice
from billing.selectors import invoices_with_dues
from majismart.tenancy import connection
from payments.models import Allocation, Payment


def open_balances(client_ids: list[int]) -> dict[int, list[list]]:
    """What each client still owes, invoice by invoice in due order: [invoice id, amount]."""
    owed: dict[int, list[list]] = {}
    for inv in (invoices_with_dues(Invoice.objects.filter(client_id__in=client_ids, status=Invoice.Status.ISSUED))
                .filter(balance_due__gt=0)  # type: ignore[misc]  # an int compares with the numeric
                .order_by("client_id", "due_date", "id").only("id", "client_id")):
        owed.setdefault(inv.client_id, []).append([inv.pk, inv.balance_due])
    return owed


def allocate_oldest_first(payments: list[tuple[int, int, Decimal]], owed: dict[int, list[list]]) -> list[Allocation]:
    """Each (payment id, client id, amount), in the order given, settles its client's invoices
    oldest first, using up `owed` as it goes; what is left over stays on the ledger as a credit."""
    allocations = []
    for payment_id, client_id, amount in payments:
        left = amount
        for slot in owed.get(client_id, []):
            if left <= 0:
                break
            part = min(left, slot[1])
            if part > 0:
                allocations.append(Allocation(payment_id=payment_id, invoice_id=slot[0], amount=part))
                slot[1] -= part
                left -= part
    return allocations


def payment_allocate(payment: Payment) -> list[Allocation]:
    """One matched payment allocated to its client's open invoices, oldest first."""
    assert payment.client_id is not None  # matched
    return Allocation.objects.bulk_create(allocate_oldest_first(
        [(payment.pk, payment.client_id, payment.amount)], open_balances([payment.client_id])))


def client_reallocate(client_id: int) -> None:
    """After a reversal, the client's remaining payments settle the oldest invoices first again
    (as the balances do), so allocations and invoice states tell the same story."""
    owed = {client_id: [[inv.pk, max(inv.total - inv.credited, Decimal("0"))] for inv in invoices_with_dues(
        Invoice.objects.filter(client_id=client_id, status=Invoice.Status.ISSUED)).order_by("due_date", "id")]}
    payments = Payment.objects.filter(client_id=client_id, status=Payment.Status.MATCHED).order_by("paid_at", "id")
    Allocation.objects.filter(payment__client_id=client_id).delete()
    Allocation.objects.bulk_create(allocate_oldest_first(
        [(p.pk, client_id, p.amount) for p in payments], owed))


def payments_ledger_link(pairs: list[tuple[int, int]]) -> None:
    """Point each payment of a set at its ledger entry, in one statement: (payment id, entry id)."""
    if not pairs:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE payments_payment p SET ledger_entry_id = v.entry FROM (VALUES "  # noqa: S608 - values bound
            + ", ".join(["(%s::bigint, %s::bigint)"] * len(pairs)) + ") AS v(payment, entry) WHERE p.id = v.payment",
            [x for pair in pairs for x in pair])
