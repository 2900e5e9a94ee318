from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts.permissions import require_capability
from billing.documents import invoice_pdf, pdf_response, statement_pdf
from billing.models import Invoice
from billing.selectors import (
    bill_status,
    client_statement,
    invoices_with_dues,
    statement_range,
    statement_range_query,
)
from clients.models import Client
from clients.selectors import own_client


@require_capability("portal.use")
def statement(request: HttpRequest) -> HttpResponse:
    client = own_client(request.user)
    start, end = statement_range(request.GET)
    return render(request, "portal/statement.html", {
        "active": "statement", "client": client, "range": request.GET, "range_query": statement_range_query(start, end),
        "statement": client_statement(client.pk, start=start, end=end) if client else None})


@require_capability("portal.use")
def statement_download(request: HttpRequest) -> HttpResponse:
    client = own_client(request.user)
    if client is None:
        raise Http404
    start, end = statement_range(request.GET)
    return pdf_response(statement_pdf(client, start, end), f"statement-{client.account_number}.pdf")


def _issued(client: Client | None):  # type: ignore[no-untyped-def]
    # Drafts are the provider's working copies: a client sees only what was issued to them.
    return invoices_with_dues(Invoice.objects.filter(client=client, status=Invoice.Status.ISSUED))


@require_capability("portal.use")
def invoices(request: HttpRequest) -> HttpResponse:
    client = own_client(request.user)
    bills = list(_issued(client).order_by("-period")[:36]) if client else []
    balance = client_statement(client.pk).balance if client else None
    return render(request, "portal/invoices.html", {
        "active": "bills", "client": client, "bills": bills, "balance": balance,
        "credit": -balance if balance is not None and balance < 0 else None})


@require_capability("portal.use")
def invoice(request: HttpRequest, pk: int) -> HttpResponse:
    client = own_client(request.user)
    bill = get_object_or_404(_issued(client).select_related("client", "category", "tariff"), pk=pk)
    return render(request, "portal/invoice.html", {"active": "bills", "client": client, "invoice": bill,
                                                   "lines": bill.lines.all(), "meter_rows": list(bill.meters.all()),
                                                   "bill_state": bill_status(bill)})


@require_capability("portal.use")
def invoice_download(request: HttpRequest, pk: int) -> HttpResponse:
    # Only the client's own issued bills: another client's (or a draft) is a 404, as if absent.
    client = own_client(request.user)
    bill = get_object_or_404(Invoice.objects.filter(client=client, status=Invoice.Status.ISSUED), pk=pk)
    return pdf_response(invoice_pdf(bill), f"{bill.number}.pdf")


def home_panel(request: HttpRequest) -> tuple[str, dict] | None:
    """The portal home's billing panel: the balance and the latest bill."""
    client = own_client(request.user)
    if client is None:
        return None
    # The latest water bill (a one-off bill of fees measured no water; the balance counts it).
    latest = _issued(client).filter(run__isnull=False).order_by("-period").first()
    statement = client_statement(client.pk)
    return "portal/_billing_panel.html", {"client": client, "balance": statement.balance,
                                          "deposit": statement.deposit_held,
                                          "latest": latest, "latest_state": bill_status(latest) if latest else ""}
