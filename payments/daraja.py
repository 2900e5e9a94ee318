"""Safaricom Daraja (M-Pesa) client: OAuth, STK push and query, C2B URL registration; and
what Daraja posts back, read (receipts, amounts, times, names, STK result codes).

Facts from shared/reference/payments-apis.md §1: every call but OAuth is a JSON POST with a
Bearer token; the token lives 3600 s and is cached (in the shared cache, so every worker uses
one) until a minute before it expires; STK passwords are base64(shortcode + passkey +
timestamp) with the timestamp in Nairobi time; amounts are whole shillings. The base URL comes
from settings.DARAJA_URLS (the project's stand-in in development and tests).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import urllib.error
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from majismart import outbound
from majismart.badinput import NUL, printable
from payments.dates import NAIROBI, payment_time_plausible
from payments.models import PaymentSettings

log = logging.getLogger(__name__)
# STK query's answer while the payer has not acted yet: pending, not failed (§1.4).
STILL_PROCESSING = "The transaction is being processed"


class DarajaError(Exception):
    """Daraja refused a request, or could not be reached (`code` "unreachable")."""

    def __init__(self, code: str, message: str, status: int = 0) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True)
class Config:
    base_url: str
    consumer_key: str
    consumer_secret: str
    shortcode: str
    passkey: str
    party_b: str
    transaction_type: str
    c2b_version: str

    @classmethod
    def of(cls, cfg: PaymentSettings) -> Config:
        till = cfg.mpesa_shortcode_type == PaymentSettings.ShortcodeType.TILL
        return cls(base_url=settings.DARAJA_URLS[cfg.mpesa_environment], consumer_key=cfg.mpesa_consumer_key,
                   consumer_secret=cfg.mpesa_consumer_secret, shortcode=cfg.mpesa_shortcode,
                   passkey=cfg.mpesa_passkey,
                   party_b=(cfg.mpesa_till_number or cfg.mpesa_shortcode) if till else cfg.mpesa_shortcode,
                   transaction_type="CustomerBuyGoodsOnline" if till else "CustomerPayBillOnline",
                   c2b_version=cfg.mpesa_c2b_version)


def _call(method: str, url: str, *, headers: dict[str, str], body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    try:
        with outbound.urlopen(url, method=method, data=data, headers={
                "Accept": "application/json", **({"Content-Type": "application/json"} if data else {}), **headers},
                timeout=settings.PAYMENTS_HTTP_TIMEOUT) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DarajaError("unreachable", f"M-Pesa could not be reached ({exc}).") from exc
    try:
        payload = json.loads(raw or b"{}")
    except ValueError:
        payload = {"errorCode": str(status), "errorMessage": raw[:200].decode("utf-8", "replace")}
    return status, payload if isinstance(payload, dict) else {"errorCode": str(status), "errorMessage": str(payload)}


def _error(status: int, payload: dict) -> DarajaError:
    return DarajaError(str(payload.get("errorCode") or payload.get("ResponseCode") or status),
                       str(payload.get("errorMessage") or payload.get("ResponseDescription") or "Request failed"),
                       status)


def _token_key(cfg: Config) -> str:
    # Changed credentials mean another token (never the secret itself in a cache key).
    digest = hashlib.sha256(f"{cfg.base_url}\0{cfg.consumer_key}\0{cfg.consumer_secret}".encode()).hexdigest()[:32]
    return f"daraja-token:{digest}"


def access_token(cfg: Config, *, fresh: bool = False) -> str:
    key = _token_key(cfg)
    token = None if fresh else cache.get(key)
    if token:
        return token
    basic = base64.b64encode(f"{cfg.consumer_key}:{cfg.consumer_secret}".encode()).decode()
    status, payload = _call("GET", f"{cfg.base_url}/oauth/v1/generate?grant_type=client_credentials",
                            headers={"Authorization": f"Basic {basic}"})
    if status != 200 or not payload.get("access_token"):
        raise _error(status, payload)
    # expires_in is "3599" in one version of the docs and 3599 in another.
    lifetime = int(str(payload.get("expires_in") or 3599))
    cache.set(key, payload["access_token"], max(lifetime - 60, 30))
    return payload["access_token"]


def _post(cfg: Config, path: str, body: dict) -> tuple[int, dict]:
    status, payload = _call("POST", cfg.base_url + path, headers={"Authorization": f"Bearer {access_token(cfg)}"},
                            body=body)
    if payload.get("errorCode") == "404.001.03":  # the token expired early: once more with a new one
        status, payload = _call("POST", cfg.base_url + path,
                                headers={"Authorization": f"Bearer {access_token(cfg, fresh=True)}"}, body=body)
    return status, payload


def timestamp() -> str:
    return timezone.now().astimezone(NAIROBI).strftime("%Y%m%d%H%M%S")


def password(cfg: Config, stamp: str) -> str:
    return base64.b64encode(f"{cfg.shortcode}{cfg.passkey}{stamp}".encode()).decode()


def daraja_phone(e164: str) -> str:
    """+254712345678 → 254712345678 (Daraja wants 12 digits, no plus)."""
    return e164.lstrip("+")


def stk_push(cfg: Config, *, phone: str, amount: int, account_reference: str, description: str,
             callback_url: str) -> dict[str, Any]:
    stamp = timestamp()
    status, payload = _post(cfg, "/mpesa/stkpush/v1/processrequest", {
        "BusinessShortCode": cfg.shortcode, "Password": password(cfg, stamp), "Timestamp": stamp,
        "TransactionType": cfg.transaction_type, "Amount": str(amount), "PartyA": daraja_phone(phone),
        "PartyB": cfg.party_b, "PhoneNumber": daraja_phone(phone), "CallBackURL": callback_url,
        "AccountReference": account_reference[:12], "TransactionDesc": description[:13] or "Water bill"})
    if status != 200 or str(payload.get("ResponseCode")) != "0" or not payload.get("CheckoutRequestID"):
        raise _error(status, payload)
    return payload


def stk_query(cfg: Config, checkout_request_id: str) -> dict[str, Any] | None:
    """Daraja's verdict on a push, or None while the payer has not acted."""
    stamp = timestamp()
    status, payload = _post(cfg, "/mpesa/stkpushquery/v1/query", {
        "BusinessShortCode": cfg.shortcode, "Password": password(cfg, stamp), "Timestamp": stamp,
        "CheckoutRequestID": checkout_request_id})
    if STILL_PROCESSING.lower() in str(payload.get("errorMessage", "")).lower():
        return None
    if status != 200 or "ResultCode" not in payload:
        raise _error(status, payload)
    return payload


def c2b_register(cfg: Config, *, confirmation_url: str, validation_url: str) -> dict[str, Any]:
    status, payload = _post(cfg, f"/mpesa/c2b/{cfg.c2b_version}/registerurl", {
        "ShortCode": cfg.shortcode, "ResponseType": "Completed",
        "ConfirmationURL": confirmation_url, "ValidationURL": validation_url})
    if status != 200 or str(payload.get("ResponseCode")) != "0":
        raise _error(status, payload)
    return payload


# STK result codes (§1.3.2), told the way a payer understands them. Logic keys on the code,
# never on Daraja's text.
STK_MESSAGES = {
    "1": gettext_noop("Your M-Pesa balance is not enough for this payment."),
    "2": gettext_noop("The amount is below M-Pesa's minimum."),
    "3": gettext_noop("The amount is above M-Pesa's limit for one payment."),
    "4": gettext_noop("This payment would pass your M-Pesa daily limit."),
    "8": gettext_noop("The provider's M-Pesa account cannot take this payment now. Please try later."),
    "17": gettext_noop("The same amount was just sent. Please wait two minutes before trying again."),
    "1019": gettext_noop("The request expired before it was answered. Please try again."),
    "1025": gettext_noop("M-Pesa could not send the prompt. Please try again."),
    "1032": gettext_noop("You cancelled the payment on your phone."),
    "1037": gettext_noop("Your phone could not be reached. Check it is on and has signal, then try again."),
    "2001": gettext_noop("The M-Pesa PIN was wrong. Please try again."),
    "8006": gettext_noop("Your M-Pesa PIN is locked. Call 100 (or 200) to unlock it."),
}
STK_MESSAGE_OTHER = gettext_noop("M-Pesa could not complete the payment ({code}). Please try again.")


def stk_message(code: object) -> str:
    """The result told to the payer, in the active language."""
    code = str(code)
    return gettext(STK_MESSAGES.get(code, STK_MESSAGE_OTHER)).format(code=code)


# --- what Daraja posts back, read --------------------------------------------------------------
# M-Pesa's limit per transaction (KES 1 to 250,000, shared/reference/payments-apis.md): C2B
# validation refuses more, and a confirmation or STK result above it did not come from M-Pesa.
MPESA_MAX_AMOUNT = Decimal("250000")


def read_amount(raw: object) -> Decimal:
    """A TransAmount (or an STK result's Amount) as money; InvalidOperation (or ValueError,
    TypeError) when unreadable, not positive or above M-Pesa's limit."""
    value = Decimal(str(raw).strip())
    if not value.is_finite() or value <= 0 or value > MPESA_MAX_AMOUNT:
        raise InvalidOperation(f"amount {str(raw)[:20]!r} not within 0 to {MPESA_MAX_AMOUNT}")
    return value.quantize(Decimal("0.01"))


def mpesa_amount(raw: object) -> Decimal | None:
    """A callback's TransAmount as money, or None when unreadable, not positive or above M-Pesa's
    limit."""
    try:
        return read_amount(raw)
    except (InvalidOperation, ValueError, TypeError):
        return None


def read_receipt(raw: object) -> str:
    """A TransID or MpesaReceiptNumber; ValueError for none, or one no receipt column holds."""
    receipt = str(raw).strip()
    if not receipt or len(receipt) > 64 or NUL in receipt:
        raise ValueError(f"receipt {receipt[:70]!r}")
    return receipt


def read_trans_time(raw: str) -> datetime:
    """Daraja's TransTime, YYYYMMDDHHmmss in Nairobi time; ValueError for one that is no date
    (20240230…, …1299…) or is far from today (before 2000, more than a year ahead)."""
    if len(raw) != 14 or not raw.isascii() or not raw.isdigit():
        raise ValueError(f"TransTime {raw[:20]!r}")
    moment = datetime.strptime(raw, "%Y%m%d%H%M%S").replace(tzinfo=NAIROBI)
    if not payment_time_plausible(moment):
        raise ValueError(f"TransTime {raw!r} is far from today")
    return moment


MSG_TIME_HELD = ("TransTime {value} is no possible date or is far from today: recorded at the time it "
                 "arrived and held for review in reconciliation")


def trans_time_or_held(raw: object, received: datetime) -> tuple[datetime, str]:
    """When the payment was made, and why it is held for review ("" when it is not). A
    confirmation is money M-Pesa has already moved, so a TransTime that cannot be believed does
    not make it unreadable: the payment is recorded at the moment the callback arrived (seconds
    after the payment) and, its payload being suspect, goes to reconciliation for a person to
    check and assign, rather than settling invoices on its own."""
    try:
        return read_trans_time(str(raw if raw is not None else "")), ""
    except ValueError:
        return received, MSG_TIME_HELD.format(value=repr(printable(str(raw))[:20]))


def payer_name(data: dict) -> str:
    """Daraja's FirstName, MiddleName and LastName as one name; an empty part leaves no gap."""
    return printable(" ".join(part for k in ("FirstName", "MiddleName", "LastName")
                              if (part := str(data.get(k) or "").strip())))
