"""Payments' part of the documents: how to pay (printed on bills and statements, registered
in billing.documents.PAYMENT_INSTRUCTIONS by PaymentsConfig.ready) and payment receipts."""

from __future__ import annotations

from typing import cast

from django.db.models import Sum
from django.utils.translation import gettext, override

from accounts.languages import chosen_or_default
from billing.documents import single_document_pdf
from billing.models import LedgerEntry
from payments.models import Payment, PaymentSettings


def how_to_pay() -> dict[str, object] | None:
    """M-Pesa as this provider takes it: a paybill with the account number as reference, or a
    Buy Goods till (no account to type). Nothing while no shortcode is saved."""
    cfg = PaymentSettings.objects.filter(pk=1).first()
    if cfg is None or not cfg.mpesa_shortcode:
        return None
    if cfg.mpesa_shortcode_type == PaymentSettings.ShortcodeType.TILL:
        return {"method": "M-Pesa Buy Goods, Till", "number": cfg.mpesa_till_number or cfg.mpesa_shortcode,
                "account": False}
    return {"method": "M-Pesa Paybill", "number": cfg.mpesa_shortcode, "account": True}


def receipt_pdf(payment: Payment) -> bytes:
    """A matched (or reversed) payment's receipt: amount, reference, what it paid towards and
    the account balance right after it (the ledger up to its own entry, so it never changes)."""
    payment = Payment.objects.select_related("client").get(pk=payment.pk)
    balance_after = None
    if payment.ledger_entry_id:
        # Posted to the ledger: matched to a client.
        balance_after = LedgerEntry.objects.filter(client_id=cast(int, payment.client_id), pk__lte=payment.ledger_entry_id
                                                   ).aggregate(s=Sum("amount"))["s"]
    # In the client's language (an unmatched payment: the provider's default).
    with override(chosen_or_default(payment.client.language if payment.client else "")):
        return single_document_pdf("pdf/receipt.html", {
            "payment": payment, "client": payment.client, "key": f"receipt-{payment.pk}", "kind": "receipt",
            "allocations": list(payment.allocations.select_related("invoice")), "balance_after": balance_after,
        }, title=gettext("Receipt %(receipt)s") % {"receipt": payment.receipt})


def receipt_attachment(payment_id: int) -> tuple[str, bytes, str]:
    """The receipt PDF for its email (notifications.services.ATTACHMENTS)."""
    payment = Payment.objects.get(pk=payment_id)
    return f"Receipt {payment.receipt}.pdf", receipt_pdf(payment), "application/pdf"
