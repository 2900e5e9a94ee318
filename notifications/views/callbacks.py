"""Africa's Talking's delivery reports: form-encoded POSTs to a URL with the provider's secret
token (AT documents no signature). Stored before they are applied; a wrong token stores nothing."""

from __future__ import annotations

import hmac

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.permissions import public
from notifications.models import NotificationSettings
from notifications.services import delivery_report_receive


@public  # behind the provider's secret token
@csrf_exempt
@require_POST
def delivery_report(request: HttpRequest, token: str) -> HttpResponse:
    cfg = NotificationSettings.load()
    if not hmac.compare_digest(token.encode(), cfg.delivery_token.encode()):
        raise Http404
    raw = request.body[:10_000].decode("utf-8", "replace")
    fields = {key: request.POST.get(key, "") for key in ("id", "status", "phoneNumber", "networkCode",
                                                         "failureReason", "retryCount")}
    delivery_report_receive(fields=fields, raw=raw)
    return HttpResponse("OK", content_type="text/plain")
