"""Payment receipts as PDFs: the client's own in the portal, any matched one for staff."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from accounts.permissions import require_capability
from billing.documents import pdf_response
from clients.selectors import own_client
from payments.documents import receipt_pdf
from payments.models import Payment

# A receipt needs the account it was paid to: an unmatched payment has none yet.
_RECEIPTED = (Payment.Status.MATCHED, Payment.Status.REVERSED)


@require_capability("portal.use")
def portal_receipt_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    client = own_client(request.user)
    payment = get_object_or_404(Payment.objects.filter(client=client, status__in=_RECEIPTED), pk=pk)
    return pdf_response(receipt_pdf(payment), f"receipt-{payment.receipt}.pdf")


@require_capability("payments.view")
def payment_receipt_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    payment = get_object_or_404(Payment.objects.filter(client__isnull=False, status__in=_RECEIPTED), pk=pk)
    return pdf_response(receipt_pdf(payment), f"receipt-{payment.receipt}.pdf")
