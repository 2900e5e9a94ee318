"""Paying: the portal's Pay page (M-Pesa STK push with a live status, card by Paystack), the
client's payment history and receipts, and the pay-link page that opens one account's payment
without logging in (amount due, account, an STK push button, nothing else personal)."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.permissions import public, require_capability
from accounts.ratelimit import limit_posts
from billing.selectors import client_balance
from clients.models import Client
from clients.selectors import own_client
from majismart.urls import domain_url
from payments import collect, mpesa, paystack
from payments.models import Payment, PaymentRequest, PaymentSettings

PORTAL_PAGE_SIZE = 25


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    errors = dict(exc.message_dict)
    if "__all__" in errors:
        errors["form"] = errors.pop("__all__")
    return errors


def _status_json(payment_request: PaymentRequest, client: Client) -> JsonResponse:
    return JsonResponse({
        "status": payment_request.status, "finished": payment_request.finished,
        "message": payment_request.message, "amount": str(payment_request.amount),
        "receipt": payment_request.payment.receipt if payment_request.payment is not None else "",
        "balance": str(client_balance(client.pk))})


# --- portal ----------------------------------------------------------------------------------
@never_cache
@require_http_methods(["GET", "POST"])
@require_capability("portal.use")
def portal_pay(request: HttpRequest) -> HttpResponse:
    client = own_client(request.user)
    if client is None:
        raise Http404
    cfg = PaymentSettings.load()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        method = request.POST.get("method")
        try:
            if method == "card":
                return_url = domain_url(request.tenant.domain, reverse("portal_card_return"), request)  # type: ignore[attr-defined]
                _, checkout = paystack.paystack_start(client=client, amount=request.POST.get("amount", ""),
                                                     email=request.POST.get("email", ""), return_url=return_url)
                return redirect(checkout)
            payment_request = mpesa.stk_start(client=client, phone=request.POST.get("phone", ""),
                                                amount=request.POST.get("amount", ""))
            return redirect("portal_pay_request", pk=payment_request.pk)
        except ValidationError as exc:
            errors = _errors(exc)
    # Errors and what was typed belong to the form that was sent; the other keeps its defaults.
    card = request.POST.get("method") == "card"
    data = request.POST if errors else {}
    return render(request, "payments/portal_pay.html", {
        "active": "pay", "client": client, "cfg": cfg, "balance": client_balance(client.pk),
        "amount": collect.default_amount(client), "errors": errors,
        "mpesa": {"errors": {} if card else errors, "data": {} if card else data},
        "card": {"errors": errors if card else {}, "data": data if card else {}},
        "recent": client.payment_requests.order_by("-created")[:5]}, status=400 if errors else 200)


@require_capability("portal.use")
def portal_request(request: HttpRequest, pk: int) -> HttpResponse:
    client = own_client(request.user)
    payment_request = get_object_or_404(PaymentRequest, pk=pk, client=client)
    return render(request, "payments/portal_request.html", {
        "active": "pay", "client": client, "req": payment_request, "balance": client_balance(client.pk),  # type: ignore[union-attr]
        "status_url": reverse("portal_pay_status", args=[pk]), "again_url": reverse("portal_pay")})


@never_cache
@require_capability("portal.use")
def portal_request_status(request: HttpRequest, pk: int) -> JsonResponse:
    client = own_client(request.user)
    payment_request = get_object_or_404(PaymentRequest.objects.select_related("payment"), pk=pk, client=client)
    return _status_json(payment_request, client)  # type: ignore[arg-type]


@require_capability("portal.use")
def portal_card_return(request: HttpRequest) -> HttpResponse:
    client = own_client(request.user)
    reference = request.GET.get("reference") or request.GET.get("trxref") or ""
    payment_request = get_object_or_404(PaymentRequest, channel=PaymentRequest.Channel.PAYSTACK,
                                        reference=reference, client=client)
    paystack.paystack_verify(payment_request)
    return redirect("portal_pay_request", pk=payment_request.pk)


@require_capability("portal.use")
def portal_payments(request: HttpRequest) -> HttpResponse:
    client = own_client(request.user)
    payments = (Payment.objects.filter(client=client).exclude(status=Payment.Status.UNMATCHED)
                .order_by("-paid_at", "-id")) if client else Payment.objects.none()
    page = Paginator(payments, PORTAL_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "payments/portal_payments.html", {"active": "payments", "client": client,
                                                             "page": page, "querystring": ""})


@require_capability("portal.use")
def portal_receipt(request: HttpRequest, pk: int) -> HttpResponse:
    client = own_client(request.user)
    payment = get_object_or_404(Payment.objects.filter(client=client).exclude(status=Payment.Status.UNMATCHED), pk=pk)
    return render(request, "payments/portal_receipt.html", {
        "active": "payments", "client": client, "payment": payment,
        "allocations": payment.allocations.select_related("invoice")})


# --- pay links (no login) ----------------------------------------------------------------------------
def _link_client(token: str) -> Client:
    client = collect.pay_link_client(token)
    if client is None:
        raise Http404("This pay link is not valid or has expired.")
    return client


@public  # the link's token is the credential
@never_cache
@require_http_methods(["GET", "POST"])
@limit_posts("pay_link", fields=("phone",))
def link_pay(request: HttpRequest, token: str) -> HttpResponse:
    client = _link_client(token)
    balance = client_balance(client.pk)
    errors: dict[str, list[str]] = {}
    if request.method == "POST" and balance <= 0:
        # The page offers no form then; a stale one sent anyway must not start a payment.
        errors = {"form": [collect.MSG_SETTLED]}
    elif request.method == "POST":
        try:
            payment_request = mpesa.stk_start(client=client, phone=request.POST.get("phone", ""),
                                                amount=request.POST.get("amount", ""),
                                                source=PaymentRequest.Source.PAY_LINK)
            return redirect("pay_link_request", token=token, pk=payment_request.pk)
        except ValidationError as exc:
            errors = _errors(exc)
    response = render(request, "payments/link_pay.html", {
        "account": client.account_number, "balance": balance, "settled": balance <= 0, "credit": max(-balance, Decimal(0)), "token": token,
        "amount": collect.default_amount(client), "cfg": PaymentSettings.load(), "errors": errors,
        "data": request.POST if errors else {}}, status=400 if errors else 200)
    # The link is a credential: never sent to another site. Same-origin (not no-referrer, which makes
    # browsers send "Origin: null" with the form's POST, refused by CSRF) keeps it on this domain.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex"
    return response


@public
@never_cache
def link_request(request: HttpRequest, token: str, pk: int) -> HttpResponse:
    client = _link_client(token)
    payment_request = get_object_or_404(PaymentRequest, pk=pk, client=client, source=PaymentRequest.Source.PAY_LINK)
    response = render(request, "payments/link_request.html", {
        "account": client.account_number, "req": payment_request, "balance": client_balance(client.pk),
        "status_url": reverse("pay_link_status", args=[token, pk]), "again_url": reverse("pay_link", args=[token])})
    response["Referrer-Policy"] = "same-origin"
    return response


@public
@never_cache
def link_request_status(request: HttpRequest, token: str, pk: int) -> JsonResponse:
    client = _link_client(token)
    payment_request = get_object_or_404(PaymentRequest.objects.select_related("payment"), pk=pk, client=client,
                                        source=PaymentRequest.Source.PAY_LINK)
    return _status_json(payment_request, client)
