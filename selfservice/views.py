"""Africa's Talking's self-service callbacks (shared/API.md), on the provider's own domain
behind its secret callback token (the M-Pesa callbacks' token): a wrong token is 404 and stores
nothing. USSD is answered at once (AT waits for the screen); an incoming SMS is stored, answered
"OK", and processed by Celery after commit."""

from __future__ import annotations

import hmac
import logging

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.permissions import public
from majismart.badinput import printable
from selfservice.sms import inbound_store
from selfservice.ussd import ussd_answer

log = logging.getLogger(__name__)


def _check_token(request: HttpRequest, token: str) -> None:
    expected = getattr(request.tenant, "callback_token", "")  # type: ignore[attr-defined]
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Http404


@public  # behind the provider's secret token
@csrf_exempt
@require_POST
def ussd(request: HttpRequest, token: str) -> HttpResponse:
    _check_token(request, token)
    form = _form(request, ("sessionId", "phoneNumber", "text"))
    reply = ussd_answer(session_id=form["sessionId"], phone=form["phoneNumber"], text=form["text"])
    return HttpResponse(reply, content_type="text/plain; charset=utf-8")


@public  # behind the provider's secret token
@csrf_exempt
@require_POST
def sms_inbound(request: HttpRequest, token: str) -> HttpResponse:
    _check_token(request, token)
    fields = _form(request, ("from", "to", "text", "date", "id", "linkId"))
    with transaction.atomic():
        row, created = inbound_store(fields)
        if created:
            transaction.on_commit(lambda: _enqueue(row.pk))
    return HttpResponse("OK", content_type="text/plain")


def _form(request: HttpRequest, names: tuple[str, ...]) -> dict[str, str]:
    """AT's form fields, storable (a NUL, which no text column holds, made visible instead)."""
    return {name: printable(request.POST.get(name, "")) for name in names}


def _enqueue(inbound_id: int) -> None:
    from selfservice.tasks import process_inbound_sms

    try:
        process_inbound_sms.delay(inbound_id)
    except Exception:  # noqa: BLE001 - the broker is down: the sweeper answers the stored row later
        log.warning("Incoming SMS stored; could not be queued (left for the sweeper)", exc_info=True)
