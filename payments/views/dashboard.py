"""Dashboard: payments (filters), a payment with its allocations and raw callback, the
reconciliation queue (assign to a client, or mark refunded), cash and bank payments."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_http_methods

from accounts.permissions import has_capability, require_capability
from payments.models import Payment
from payments.services import payment_assign, payment_mark_refunded

PAGE_SIZE = 50


@require_capability("payments.view")
def payment_list(request: HttpRequest) -> HttpResponse:
    q = request.GET
    payments = Payment.objects.select_related("client").order_by("-paid_at", "-id")
    if q.get("method") in Payment.Method.values:
        payments = payments.filter(method=q["method"])
    if q.get("status") in Payment.Status.values:
        payments = payments.filter(status=q["status"])
    for name, lookup in (("from", "paid_at__date__gte"), ("to", "paid_at__date__lte")):
        day = parse_date(q.get(name, "") or "")
        if day:
            payments = payments.filter(**{lookup: day})
    page = Paginator(payments, PAGE_SIZE).get_page(q.get("page"))
    params = q.copy()
    params.pop("page", None)
    return render(request, "payments/list.html", {
        "active": "payments", "page": page, "q": q, "querystring": params.urlencode(),
        "methods": Payment.Method.choices, "statuses": Payment.Status.choices,
        "unmatched": Payment.objects.filter(status=Payment.Status.UNMATCHED).count()})


def _detail(request: HttpRequest, payment: Payment, *, errors: dict | None = None, status: int = 200) -> HttpResponse:
    payment = Payment.objects.select_related("client", "inbox", "recorded_by").get(pk=payment.pk)
    return render(request, "payments/detail.html", {
        "active": "payments", "payment": payment, "allocations": payment.allocations.select_related("invoice"),
        "can_reconcile": has_capability(request.user, "payments.record") and payment.status == Payment.Status.UNMATCHED,
        "errors": errors or {}, "data": request.POST if errors else {}}, status=status)


@require_capability("payments.view")
def payment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, get_object_or_404(Payment, pk=pk))


@require_http_methods(["POST"])
@require_capability("payments.record")
def payment_reconcile(request: HttpRequest, pk: int) -> HttpResponse:
    payment = get_object_or_404(Payment, pk=pk)
    try:
        if request.POST.get("action") == "refund":
            payment_mark_refunded(payment=payment, reason=request.POST.get("reason", ""), actor=request.user)
            messages.success(request, f"{payment.receipt} marked as refunded.")
        else:
            payment = payment_assign(payment=payment, account_number=request.POST.get("account_number", ""),
                                     actor=request.user)
            messages.success(request, f"{payment.receipt} assigned to {payment.client.account_number}.")
    except ValidationError as exc:
        return _detail(request, payment, errors=exc.message_dict, status=400)
    return redirect("payment_detail", pk=pk)
