"""Demo payments for `seed_demo`: sandbox M-Pesa settings that work against the local Daraja
stand-in (`make run` starts it), and payments made the ways clients make them: an M-Pesa paybill
payment arrives as Safaricom's C2B confirmation and is processed as the callback's is; cash is
taken at the counter as the cash desk records it. web.demo_year decides who pays when."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

NAIROBI = ZoneInfo("Africa/Nairobi")
# Safaricom's public sandbox values (shared/reference/payments-apis.md §1.8).
SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
# One of the addresses Safaricom sends its callbacks from (payments-apis.md §1.7).
SAFARICOM_IP = "196.201.214.200"


def seed_mpesa_settings() -> None:
    from payments.models import PaymentSettings

    cfg = PaymentSettings.load()
    if not cfg.mpesa_shortcode:
        cfg.mpesa_shortcode, cfg.mpesa_environment = SANDBOX_SHORTCODE, PaymentSettings.Environment.SANDBOX
        cfg.mpesa_consumer_key, cfg.mpesa_consumer_secret = "demo-consumer-key", "demo-consumer-secret"
        cfg.mpesa_passkey = SANDBOX_PASSKEY
        cfg.save()


def c2b_body(*, receipt: str, amount: Decimal, at: datetime, account: str, phone: str, name: str) -> bytes:
    """A C2B confirmation as Daraja POSTs it (numbers masked, as Safaricom sends them now)."""
    first, _, last = name.partition(" ")
    digits = "".join(ch for ch in phone if ch.isdigit())
    return json.dumps({
        "TransactionType": "Pay Bill", "TransID": receipt,
        "TransTime": at.astimezone(NAIROBI).strftime("%Y%m%d%H%M%S"), "TransAmount": f"{amount:.2f}",
        "BusinessShortCode": SANDBOX_SHORTCODE, "BillRefNumber": account, "InvoiceNumber": "",
        "OrgAccountBalance": "", "ThirdPartyTransID": "", "MSISDN": f"{digits[:4]} ***** {digits[-3:]}",
        "FirstName": first.upper(), "MiddleName": "", "LastName": last.upper(),
    }).encode()


def c2b_stored(**fields: object) -> None:
    """A paybill payment arriving: Safaricom's confirmation stored as the endpoint stores it."""
    from payments.inbox import confirmation_store

    confirmation_store(body=c2b_body(**fields), headers={"content-type": "application/json"},  # type: ignore[arg-type]
                       source_ip=SAFARICOM_IP)


def drain() -> int:
    """The confirmations stored so far processed as the drain task processes them (in sets:
    matched by account number, or left for reconciliation); the drain flag is lowered after."""
    from payments.tasks import drain_confirmations

    return drain_confirmations()


def cash_at_counter(*, client: object, amount: Decimal, at: datetime, receipt: str, actor: object) -> None:
    """Cash taken at the counter, recorded as the cash desk records it."""
    from payments.models import Payment
    from payments.services import payment_record

    payment_record(method=Payment.Method.CASH, receipt=receipt, amount=amount, paid_at=at, client=client,  # type: ignore[arg-type]
                   actor=actor)
