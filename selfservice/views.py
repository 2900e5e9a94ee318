"""Africa's Talking's self-service callbacks (shared/API.md), on the provider's own domain
behind its secret callback token (the M-Pesa callbacks' token): a wrong token is 404 and stores
nothing. USSD is answered at once (AT waits for the screen); an incoming SMS is stored, answered
"OK", and processed by Celery after commit."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.permissions import public
from accounts.ratelimit import hit, parse_rate
from majismart.badinput import printable
from selfservice.sms import inbound_store
from selfservice.ussd import ussd_answer

log = logging.getLogger(__name__)


def _check_token(request: HttpRequest, token: str) -> None:
    expected = getattr(request.tenant, "callback_token", "")  # type: ignore[attr-defined]
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Http404


def _flooded(endpoint: str) -> HttpResponse | None:
    """Africa's Talking calls from its own addresses for every caller, so no per-address limit
    applies here: a phone's USSD steps have their own limit, answered in the protocol (`END` and
    a short text, selfservice/ussd.py). This is a ceiling per provider and endpoint far above any
    real traffic (RATE_LIMIT_CALLBACKS_PER_PROVIDER): a flood past it is answered 429 with
    Retry-After, before anything is stored."""
    rate = parse_rate(settings.RATE_LIMIT_CALLBACKS_PER_PROVIDER)
    wait = hit(f"callbacks:{endpoint}", rate)
    if wait is None:
        return None
    log.warning("Rate limited: %s callbacks for this provider, retry after %ss", endpoint, wait)
    response = HttpResponse("Too many requests.", content_type="text/plain", status=429)
    response["Retry-After"] = str(wait)
    return response


@public  # behind the provider's secret token
@csrf_exempt
@require_POST
def ussd(request: HttpRequest, token: str) -> HttpResponse:
    _check_token(request, token)
    if (flooded := _flooded("ussd")) is not None:
        return flooded
    form = _form(request, ("sessionId", "phoneNumber", "text"))
    reply = ussd_answer(session_id=form["sessionId"], phone=form["phoneNumber"], text=form["text"])
    return HttpResponse(reply, content_type="text/plain; charset=utf-8")


@public  # behind the provider's secret token
@csrf_exempt
@require_POST
def sms_inbound(request: HttpRequest, token: str) -> HttpResponse:
    _check_token(request, token)
    if (flooded := _flooded("sms_inbound")) is not None:
        return flooded
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
