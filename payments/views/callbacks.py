"""Callback endpoints (shared/API.md): on the provider's own domain, behind its secret token.
Each request is stored first, answered with Daraja's body, and processed by Celery after commit;
a wrong token is 404 and stores nothing; a body that cannot be read is stored and answered too."""

from __future__ import annotations

import hmac
import json

from django.db import transaction
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments.models import CallbackInbox
from payments.services import client_for_account, inbox_store

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
VALIDATION_ACCEPT = {"ResultCode": "0", "ResultDesc": "Accepted"}
# C2B00012 is "Invalid Account Number"; C2B00016 "Other Error" (shared/reference/payments-apis.md).
VALIDATION_UNKNOWN_ACCOUNT = {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}
VALIDATION_UNREADABLE = {"ResultCode": "C2B00016", "ResultDesc": "Rejected"}


def _check_token(request: HttpRequest, token: str) -> None:
    expected = getattr(request.tenant, "callback_token", "")  # type: ignore[attr-defined]
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Http404


def _source_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _store(request: HttpRequest, kind: str) -> CallbackInbox:
    return inbox_store(kind=kind, body=request.body, headers=dict(request.headers), source_ip=_source_ip(request))


@csrf_exempt
@require_POST
def c2b_validation(request: HttpRequest, token: str) -> JsonResponse:
    _check_token(request, token)
    inbox = _store(request, CallbackInbox.Kind.C2B_VALIDATION)
    try:
        reference = str(json.loads(request.body).get("BillRefNumber") or "")
    except (ValueError, AttributeError):
        CallbackInbox.objects.filter(pk=inbox.pk).update(status=CallbackInbox.Status.INVALID,
                                                         note="Could not be read")
        return JsonResponse(VALIDATION_UNREADABLE)
    known = client_for_account(reference) is not None
    CallbackInbox.objects.filter(pk=inbox.pk).update(
        status=CallbackInbox.Status.PROCESSED, note="accepted" if known else f"unknown account {reference[:60]!r}")
    return JsonResponse(VALIDATION_ACCEPT if known else VALIDATION_UNKNOWN_ACCOUNT)


@csrf_exempt
@require_POST
def c2b_confirmation(request: HttpRequest, token: str) -> JsonResponse:
    _check_token(request, token)
    from payments.tasks import process_callback

    with transaction.atomic():
        inbox = _store(request, CallbackInbox.Kind.C2B_CONFIRMATION)
        transaction.on_commit(lambda: _enqueue(process_callback, inbox.pk))
    return JsonResponse(ACCEPTED)


def _enqueue(task, inbox_id: int) -> None:  # type: ignore[no-untyped-def]
    try:
        task.delay(inbox_id)
    except Exception:  # noqa: BLE001 - the broker is down: the sweeper processes the stored row later
        import logging

        logging.getLogger(__name__).warning("Callback %s stored; broker unavailable, left for the sweeper", inbox_id)
