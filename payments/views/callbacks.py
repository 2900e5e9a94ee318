"""Callback endpoints (shared/API.md): on the provider's own domain, behind its secret token.
Each request is stored first, answered with Daraja's body, and processed by Celery after commit;
a wrong token is 404 and stores nothing; a body that cannot be read is stored and answered too.
Paystack's webhook is signed instead (HMAC-SHA512 of the raw body with the provider's key)."""

from __future__ import annotations

import hmac
import json
import logging

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.middleware import client_ip, current_request_context
from accounts.permissions import public
from majismart.badinput import NUL
from payments.daraja import mpesa_amount, read_trans_time
from payments.inbox import KEPT_HEADERS, confirmation_store, inbox_mark, inbox_store
from payments.matching import client_for_account
from payments.models import CallbackInbox, PaymentSettings
from payments.paystack import paystack_signature_ok

log = logging.getLogger(__name__)

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
VALIDATION_ACCEPT = {"ResultCode": "0", "ResultDesc": "Accepted"}
# C2B00012 is "Invalid Account Number"; C2B00013 "Invalid Amount"; C2B00016 "Other Error"
# (shared/reference/payments-apis.md).
VALIDATION_UNKNOWN_ACCOUNT = {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}
VALIDATION_BAD_AMOUNT = {"ResultCode": "C2B00013", "ResultDesc": "Rejected"}
VALIDATION_UNREADABLE = {"ResultCode": "C2B00016", "ResultDesc": "Rejected"}


def _check_token(request: HttpRequest, token: str) -> None:
    expected = getattr(request.tenant, "callback_token", "")  # type: ignore[attr-defined]
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Http404


def _source_ip(request: HttpRequest) -> str | None:
    """The caller's address, by the one rule the audit log and the login lockout use too
    (REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies of ours the hop that many from the
    right of X-Forwarded-For). The audit middleware has already read it for this request."""
    context = current_request_context()
    return (context.ip if context is not None else client_ip(request)) or None


def _screen(request: HttpRequest) -> tuple[str | None, str]:
    """Safaricom's published addresses: a callback from elsewhere is noted (the default) or,
    when the provider chose so, refused (403, nothing stored)."""
    ip = _source_ip(request)
    if ip in settings.MPESA_CALLBACK_IPS:  # every real callback: no need to read the provider's choice
        return ip, ""
    mode = PaymentSettings.load().ip_check
    if mode == PaymentSettings.IpCheck.OFF:
        return ip, ""
    log.warning("M-Pesa callback from %s, not a published Safaricom address (%s)", ip, mode)
    if mode == PaymentSettings.IpCheck.ENFORCE:
        raise PermissionDeniedCallback
    return ip, f"from {ip}, not a published Safaricom address"


class PermissionDeniedCallback(Exception):
    pass


# The headers an inbox row keeps (payments.inbox.KEPT_HEADERS, the one list), read straight
# from META by their CGI names: request.headers would parse every header of every callback on the
# busiest endpoint to keep these few.
_KEPT_META = {("CONTENT_TYPE" if name == "content-type" else "HTTP_" + name.upper().replace("-", "_")): name
              for name in KEPT_HEADERS}


def _headers(request: HttpRequest) -> dict[str, str]:
    meta = request.META
    return {name: meta[key] for key, name in _KEPT_META.items() if key in meta}


def _store(request: HttpRequest, kind: str, *, ip: str | None, note: str = "") -> CallbackInbox:
    return inbox_store(kind=kind, body=request.body, headers=_headers(request), source_ip=ip, note=note)


def _guarded(view):  # type: ignore[no-untyped-def]
    """Token first (404), then the address screen (403 when enforced)."""
    def wrapped(request: HttpRequest, token: str) -> HttpResponse:
        _check_token(request, token)
        try:
            ip, note = _screen(request)
        except PermissionDeniedCallback:
            return JsonResponse({"ResultCode": 1, "ResultDesc": "Rejected"}, status=403)
        return view(request, ip, note)

    return public(csrf_exempt(require_POST(wrapped)))


@_guarded
def c2b_validation(request: HttpRequest, ip: str | None, note: str) -> JsonResponse:
    inbox = _store(request, CallbackInbox.Kind.C2B_VALIDATION, ip=ip)
    try:
        data = json.loads(request.body)
        reference = str(data.get("BillRefNumber") or "")
        stamp = str(data.get("TransTime") or "")
    except (ValueError, AttributeError):
        inbox_mark(inbox.pk, CallbackInbox.Status.INVALID, "Could not be read")
        return JsonResponse(VALIDATION_UNREADABLE)
    # Before the money moves, a payload that cannot be right is refused (the payer keeps the
    # money and is told by SMS): an account number holding a NUL is no account number; a
    # TransTime that is no date, or far from today, is no M-Pesa transaction's; an amount that
    # is none, not positive or above M-Pesa's limit is no M-Pesa payment.
    if NUL in reference:
        inbox_mark(inbox.pk, CallbackInbox.Status.PROCESSED, "account number with a NUL character, rejected")
        return JsonResponse(VALIDATION_UNKNOWN_ACCOUNT)
    if stamp:
        try:
            read_trans_time(stamp)
        except ValueError as exc:
            inbox_mark(inbox.pk, CallbackInbox.Status.PROCESSED, f"{exc}, rejected")
            return JsonResponse(VALIDATION_UNREADABLE)
    if mpesa_amount(data.get("TransAmount")) is None:
        inbox_mark(inbox.pk, CallbackInbox.Status.PROCESSED,
                   "; ".join(filter(None, [f"amount {str(data.get('TransAmount'))[:20]!r} rejected", note])))
        return JsonResponse(VALIDATION_BAD_AMOUNT)
    known = client_for_account(reference) is not None
    accept = known or PaymentSettings.load().accept_unknown_accounts
    outcome = "accepted" if known else (f"unknown account {reference[:60]!r}, "
                                        + ("accepted into reconciliation" if accept else "rejected"))
    inbox_mark(inbox.pk, CallbackInbox.Status.PROCESSED, "; ".join(filter(None, [outcome, note])))
    return JsonResponse(VALIDATION_ACCEPT if accept else VALIDATION_UNKNOWN_ACCOUNT)


def _inbox_and_enqueue(request: HttpRequest, kind: str, ip: str | None, note: str) -> None:
    from payments.tasks import process_callback

    with transaction.atomic():
        inbox = _store(request, kind, ip=ip, note=note)
        transaction.on_commit(lambda: _enqueue(process_callback, inbox.pk))


@_guarded
def c2b_confirmation(request: HttpRequest, ip: str | None, note: str) -> JsonResponse:
    """The busiest endpoint: one statement stores the callback and raises the drain flag; only
    the callback that raised it queues a drain (payments.tasks.drain_confirmations)."""
    from payments.tasks import drain_confirmations

    if confirmation_store(body=request.body, headers=_headers(request), source_ip=ip, note=note):
        transaction.on_commit(lambda: _enqueue(drain_confirmations))
    return JsonResponse(ACCEPTED)


@_guarded
def stk_callback(request: HttpRequest, ip: str | None, note: str) -> JsonResponse:
    _inbox_and_enqueue(request, CallbackInbox.Kind.STK_CALLBACK, ip, note)
    return JsonResponse(ACCEPTED)


@public  # signed by Paystack
@csrf_exempt
@require_POST
def paystack_webhook(request: HttpRequest) -> JsonResponse:
    """Paystack signs with the provider's secret key; a bad or missing signature is refused
    (401) and nothing is stored."""
    secret = PaymentSettings.load().paystack_secret_key
    if not secret:
        raise Http404
    if not paystack_signature_ok(request.body, request.headers.get("x-paystack-signature", ""), secret):
        log.warning("Paystack webhook with a bad signature from %s", _source_ip(request))
        return JsonResponse({"detail": "Bad signature."}, status=401)
    _inbox_and_enqueue(request, CallbackInbox.Kind.PAYSTACK, _source_ip(request), "")
    return JsonResponse({"received": True})


def _enqueue(task, *args: object) -> None:  # type: ignore[no-untyped-def]
    try:
        task.delay(*args)
    except Exception:  # noqa: BLE001 - the broker is down: the sweeper processes the stored row later
        log.warning("Callback stored; could not be queued (left for the sweeper)", exc_info=True)
