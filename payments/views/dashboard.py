"""Dashboard: payments (filters), a payment with its allocations and raw callback, the
reconciliation queue (assign to a client, or mark refunded), cash and bank payments."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_http_methods

from accounts.permissions import has_capability, require_capability
from majismart.crypto import masked_secret
from majismart.exports import Column, chunked, col, export_format, export_response, label
from payments.models import Payment, PaymentRequest, PaymentSettings
from payments.services import payment_assign, payment_mark_refunded, payment_reverse
from payments.settings import SECRET_FIELDS, payment_register_urls, payment_settings_update
from tenants.selectors import callback_urls

PAGE_SIZE = 50
# Shown to staff as received, less what they do not need: the payer's full phone number (STK),
# email, card and IP details (Paystack); a C2B payer's number and names (older API versions send
# the number in clear) are on the page already, as the payment's payer, as stored.
REDACT_KEYS = {"PhoneNumber", "email", "ip_address", "authorization", "bin", "last4", "phone",
               "first_name", "last_name", "MSISDN", "FirstName", "MiddleName", "LastName", "KYCInfo"}


def redacted_body(body: str) -> str:
    import json

    def scrub(value: object) -> object:
        if isinstance(value, dict):
            if value.get("Name") == "PhoneNumber" and "Value" in value:
                return {**value, "Value": "(hidden)"}
            return {k: "(hidden)" if k in REDACT_KEYS else scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    try:
        return json.dumps(scrub(json.loads(body)), indent=2, ensure_ascii=False)
    except ValueError:
        return body


# The lists' downloads (?export=csv|xlsx): every row the filters match.
PAYMENT_COLUMNS = [
    col("Receipt", "receipt"), col("Paid", "paid_at", "datetime"),
    Column("Method", lambda p: label(Payment.Method.choices)(p.method)),
    Column("Account", lambda p: p.client.account_number if p.client else p.account_reference),
    col("Payer", "payer_name"), col("Client", "client.full_name"), col("Amount (KES)", "amount", "money"),
    Column("Status", lambda p: label(Payment.Status.choices)(p.status)),
]
REQUEST_COLUMNS = [
    col("Reference", "reference"), col("Asked", "created", "datetime"),
    Column("Channel", lambda r: label(PaymentRequest.Channel.choices)(r.channel)),
    col("Account", "client.account_number"), col("Client", "client.full_name"), col("Amount (KES)", "amount", "money"),
    Column("Status", lambda r: label(PaymentRequest.Status.choices)(r.status)), col("Receipt", "payment.receipt"),
]


@require_capability("payments.view")
def payment_list(request: HttpRequest) -> HttpResponseBase:
    q = request.GET
    payments = Payment.objects.select_related("client").order_by("-paid_at", "-id")
    if q.get("method") in Payment.Method.values:
        payments = payments.filter(method=q["method"])
    if q.get("status") in Payment.Status.values:
        payments = payments.filter(status=q["status"])
    ignored = []
    for name, shown, lookup in (("from", "From", "paid_at__date__gte"), ("to", "To", "paid_at__date__lte")):
        raw = (q.get(name, "") or "").strip()
        try:
            day = parse_date(raw) if raw else None
        except ValueError:
            day = None
        if day:
            payments = payments.filter(**{lookup: day})
        elif raw:
            ignored.append(shown)
    if fmt := export_format(request):
        return export_response(fmt, "payments", PAYMENT_COLUMNS, chunked(payments), title="Payments")
    page = Paginator(payments, PAGE_SIZE).get_page(q.get("page"))
    params = q.copy()
    params.pop("page", None)
    return render(request, "payments/list.html", {
        "active": "payments", "page": page, "q": q, "querystring": params.urlencode(),
        "methods": Payment.Method.choices, "statuses": Payment.Status.choices, "ignored_dates": ignored,
        "unmatched": Payment.objects.filter(status=Payment.Status.UNMATCHED).count()})


def _detail(request: HttpRequest, payment: Payment, *, errors: dict | None = None, status: int = 200) -> HttpResponse:
    payment = Payment.objects.select_related("client", "inbox", "recorded_by").get(pk=payment.pk)
    return render(request, "payments/detail.html", {
        "active": "payments", "payment": payment, "raw": redacted_body(payment.inbox.body) if payment.inbox else "", "allocations": payment.allocations.select_related("invoice"),
        "can_reconcile": has_capability(request.user, "payments.record") and payment.status == Payment.Status.UNMATCHED,
        "can_reverse": has_capability(request.user, "payments.reverse") and payment.status == Payment.Status.MATCHED,
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
            assert payment.client is not None  # assigned
            messages.success(request, f"{payment.receipt} assigned to {payment.client.account_number}.")
    except ValidationError as exc:
        return _detail(request, payment, errors=exc.message_dict, status=400)
    return redirect("payment_detail", pk=pk)


@require_http_methods(["POST"])
@require_capability("payments.reverse")
def payment_reverse_view(request: HttpRequest, pk: int) -> HttpResponse:
    payment = get_object_or_404(Payment, pk=pk)
    try:
        payment_reverse(payment=payment, reason=request.POST.get("reason", ""), actor=request.user)
    except ValidationError as exc:
        return _detail(request, payment, errors=exc.message_dict, status=400)
    messages.success(request, f"{payment.receipt} reversed; the client's balance owes it again.")
    return redirect("payment_detail", pk=pk)


@require_capability("payments.view")
def payment_requests(request: HttpRequest) -> HttpResponseBase:
    """STK pushes and card checkouts: what was asked, of whom, and what came of it."""
    q = request.GET
    requests = PaymentRequest.objects.select_related("client", "payment").order_by("-created")
    if q.get("status") in PaymentRequest.Status.values:
        requests = requests.filter(status=q["status"])
    if q.get("channel") in PaymentRequest.Channel.values:
        requests = requests.filter(channel=q["channel"])
    if fmt := export_format(request):
        return export_response(fmt, "payment-requests", REQUEST_COLUMNS, chunked(requests),
                               title="Payment requests")
    page = Paginator(requests, PAGE_SIZE).get_page(q.get("page"))
    params = q.copy()
    params.pop("page", None)
    return render(request, "payments/requests.html", {
        "active": "payments", "page": page, "q": q, "querystring": params.urlencode(),
        "statuses": PaymentRequest.Status.choices, "channels": PaymentRequest.Channel.choices})


@require_http_methods(["GET", "POST"])
@require_capability("settings.manage")
def payment_settings(request: HttpRequest) -> HttpResponse:
    cfg = PaymentSettings.load()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            payment_settings_update(cfg=cfg, data=request.POST, actor=request.user)
            messages.success(request, "Payment settings saved.")
            return redirect("payment_settings")
        except ValidationError as exc:
            errors = exc.message_dict
    response = render(request, "payments/settings.html", {
        "active": "payments", "cfg": cfg, "errors": errors, "data": request.POST if errors else None,
        "secrets": {name: masked_secret(getattr(cfg, name)) for name in SECRET_FIELDS},
        "callback_urls": callback_urls(request.tenant),  # type: ignore[attr-defined]
        "environments": PaymentSettings.Environment.choices, "types": PaymentSettings.ShortcodeType.choices,
        "ip_checks": PaymentSettings.IpCheck.choices}, status=400 if errors else 200)
    add_never_cache_headers(response)
    return response


@require_http_methods(["POST"])
@require_capability("settings.manage")
def payment_register_c2b(request: HttpRequest) -> HttpResponse:
    cfg = payment_register_urls(actor=request.user, urls=callback_urls(request.tenant))  # type: ignore[attr-defined]
    if cfg.c2b_register_result.startswith("Registered"):
        messages.success(request, cfg.c2b_register_result)
    else:
        messages.error(request, cfg.c2b_register_result)
    return redirect("payment_settings")
