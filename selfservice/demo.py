"""`seed_demo`: each demo provider's USSD code and SMS number on the local Africa's Talking
stand-in (`make run`), so its simulator (/__standin__/ussd) reaches the provider's callbacks."""

from __future__ import annotations

import json
import logging

from django.conf import settings

from majismart import outbound
from majismart.tenancy import connection
from tenants.selectors import callback_urls

log = logging.getLogger(__name__)


def demo_codes() -> tuple[str, str]:
    """The current provider's demo USSD code and SMS short code (by its id: one each)."""
    pk = int(connection.tenant.pk)
    return f"*384*{pk}#", f"2{pk:04d}"


def register_with_standin() -> None:
    """Only the local stand-in has these control endpoints; on Africa's Talking the provider
    enters the URLs (Settings shows them) by hand."""
    base = settings.AFRICASTALKING_URLS["sandbox"]
    if not base.startswith("http://127.0.0.1"):
        return
    urls = callback_urls(connection.tenant)
    code, number = demo_codes()
    for path, body in (("ussd-code", {"code": code, "url": urls["ussd"]}),
                       ("sms-number", {"number": number, "url": urls["sms_inbound"]})):
        try:
            outbound.urlopen(f"{base}/__standin__/{path}", method="POST", data=json.dumps(body).encode(),
                             headers={"Content-Type": "application/json"}, timeout=3).close()
        except OSError as exc:
            log.warning("The Africa's Talking stand-in did not take the %s: %s", path, exc)


def demo_line() -> str:
    """What seed_demo prints for trying self-service: the code, the number and a client's phone."""
    from clients.models import Client

    code, number = demo_codes()
    client = Client.objects.exclude(phone_index="").order_by("account_number").first()
    phone = f", e.g. as {client.phone} ({client.account_number})" if client is not None else ""
    return f"USSD {code} and SMS to {number} on the Africa's Talking stand-in{phone}"
