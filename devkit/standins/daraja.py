"""A local stand-in for Safaricom's Daraja (M-Pesa) API, for development and tests.

What it is
    A small stdlib HTTP server (``ThreadingHTTPServer`` in a daemon thread) that answers the
    Daraja endpoints MajiSmart uses with the documented request rules and response shapes, and
    then calls our callback URLs back over real HTTP the way M-Pesa does: later, from another
    thread, sometimes more than once, sometimes never. ``make run`` points the app at it; tests
    start one on a free port and drive it with the test-control methods below.

What it speaks (shapes from shared/reference/payments-apis.md, section 1)
    GET  /oauth/v1/generate?grant_type=client_credentials   HTTP Basic -> access token
    POST /mpesa/stkpush/v1/processrequest                   STK push; callback to CallBackURL
    POST /mpesa/stkpushquery/v1/query                       STK status (pending / result)
    POST /mpesa/c2b/v1|v2/registerurl                       C2B confirmation/validation URLs
    POST /mpesa/c2b/v1|v2/simulate                          C2B payment: validation, confirmation
    Every API call needs ``Authorization: Bearer <token>`` and a JSON body sent as
    ``application/json``; errors use Daraja's envelope
    ``{"requestId", "errorCode", "errorMessage"}``.

    Test control, in Python (``queue_stk_outcome``, ``simulate_c2b``, ``wait_for_callbacks``,
    ``requests``, ``callbacks_sent``, ``expire_tokens``) and over HTTP for a stand-in running
    in its own process::

        POST /__standin__/stk-outcome  {"result_code": 1032, "delay": 5, "duplicates": 1,
                                        "send_callback": true, "result_desc": null}
        GET  /__standin__/requests     the request log
        GET  /__standin__/callbacks    every callback POSTed, with our server's answer
        GET  /                         what this server is

What it is not
    Not an emulator of every Safaricom rule: no rate limits, daily limits, "Unable to lock
    subscriber", product (v1/v2) assignment, balances beyond a running C2B total, B2C,
    reversals, Transaction Status or the Pull API. Field rules are the documented ones, checked
    in document order, first failure wins. It keeps everything in memory and trusts everyone
    who reaches it: never expose it beyond localhost.

Run it on its own::

    python -m devkit.standins.daraja --host 127.0.0.1 --port 8701
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import logging
import re
import secrets
import signal
import string
import sys
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from devkit.standins.base import StandIn, post

log = logging.getLogger(__name__)

# Kenya keeps East Africa Time all year (no DST), so a fixed offset needs no tz database.
NAIROBI = timezone(timedelta(hours=3), "EAT")

SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
SANDBOX_MSISDN = "254708374149"

TOKEN_LIFETIME = 3600.0  # seconds; Daraja answers "3599"
CALLBACK_TIMEOUT = 10.0
MAX_AMOUNT = 250_000  # KSh per transaction

# The official STK result table (DJ3). Key business logic on the code, never on this text.
STK_RESULT_DESCRIPTIONS: dict[int, str] = {
    0: "The service request is processed successfully.",
    1: "The balance is insufficient for the transaction.",
    2: "Declined due to limit rule.",
    3: "Declined due to limit rule: greater than the maximum transaction amount.",
    4: "Declined due to limit rule: would exceed daily transfer limit.",
    8: "Declined due to limit rule: would exceed the maximum balance.",
    17: "Rule limited.",
    1019: "Transaction has expired.",
    1025: "An error occurred while sending a push request.",
    1032: "Request cancelled by user",
    1037: "DS timeout user cannot be reached",
    2001: "The initiator information is invalid.",
    2028: "The request is not permitted according to product assignment.",
    8006: "The security credential is locked.",
}

STK_TRANSACTION_TYPES = ("CustomerPayBillOnline", "CustomerBuyGoodsOnline")
C2B_TRANSACTION_TYPES = {"CustomerPayBillOnline": "Pay Bill", "CustomerBuyGoodsOnline": "Buy Goods"}
C2B_RESPONSE_TYPES = ("Completed", "Cancelled")
# Safaricom refuses C2B URLs containing these words, in any case, anywhere in the URL.
BANNED_URL_WORDS = ("m-pesa", "mpesa", "safaricom", "exe", "exec", "cmd", "sql", "query")

_ALNUM = string.ascii_uppercase + string.digits
_TOKEN_CHARS = string.ascii_letters + string.digits
_PHONE = re.compile(r"254[17][0-9]{8}")
_DIGITS = re.compile(r"[0-9]+")

# The transport never goes through an environment proxy: callbacks target this machine.


# --------------------------------------------------------------------------------------------
# Errors and field rules
# --------------------------------------------------------------------------------------------


def _request_id() -> str:
    """A Daraja-looking requestId, e.g. ``29115-34620561-1``."""
    return f"{10000 + secrets.randbelow(90000)}-{10_000_000 + secrets.randbelow(90_000_000)}-1"


class DarajaError(Exception):
    """A synchronous Daraja error: HTTP status plus the documented error envelope."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None = None):
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id or _request_id()

    def body(self) -> dict[str, str]:
        return {"requestId": self.request_id, "errorCode": self.code, "errorMessage": self.message}


def _invalid(field: str) -> DarajaError:
    return DarajaError(400, "400.002.02", f"Bad Request - Invalid {field}")


def _digits(value: Any) -> str | None:
    """A non-negative int or a string of ASCII digits, as a string; anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value >= 0 else None
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return value
    return None


def _shortcode(body: Mapping[str, Any], field: str) -> str:
    """Paybill/Till/HO numbers: 5 to 7 digits, sent as a number or a string."""
    value = _digits(body.get(field))
    if value is None or not 5 <= len(value) <= 7:
        raise _invalid(field)
    return value


def _phone(body: Mapping[str, Any], field: str) -> str:
    """A Safaricom M-Pesa number in international form: 2547XXXXXXXX or 2541XXXXXXXX."""
    value = _digits(body.get(field))
    if value is None or not _PHONE.fullmatch(value):
        raise _invalid(field)
    return value


def _amount(body: Mapping[str, Any], field: str = "Amount") -> int:
    """Whole shillings, 1..250 000, as a number or a string of digits (no "10.50")."""
    value = body.get(field)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    digits = _digits(value)
    if digits is None or not 1 <= int(digits) <= MAX_AMOUNT:
        raise _invalid(field)
    return int(digits)


def _timestamp(body: Mapping[str, Any]) -> str:
    """``YYYYMMDDHHmmss`` that is a real date and time."""
    value = _digits(body.get("Timestamp"))
    if value is None or len(value) != 14:
        raise _invalid("Timestamp")
    try:
        datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=NAIROBI)
    except ValueError:
        raise _invalid("Timestamp") from None
    return value


def _text(body: Mapping[str, Any], field: str, *, max_len: int, required: bool = True) -> str:
    value = body.get(field)
    if value is None and not required:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > max_len or (required and not value.strip()):
        raise _invalid(field)
    return value


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str) or value != value.strip() or " " in value:
        return False
    parts = urllib.parse.urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _has_banned_word(url: str) -> bool:
    lowered = url.lower()
    return any(word in lowered for word in BANNED_URL_WORDS)


def _nairobi_now() -> datetime:
    return datetime.now(NAIROBI)


# --------------------------------------------------------------------------------------------
# Callback delivery
# --------------------------------------------------------------------------------------------


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        return None


def post_json(url: str, payload: Any, timeout: float = CALLBACK_TIMEOUT) -> tuple[int | str, Any]:
    """POST ``payload`` as JSON; return (HTTP status or ``"error: ..."``, parsed JSON answer).
    Never raises (``*.localhost`` is reached as base.post explains)."""
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               "User-Agent": "MajiSmart-Daraja-StandIn/1.0"}
    status, raw = post(url, json.dumps(payload).encode("utf-8"), headers, timeout)
    return status, _parse_json(raw)


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StkOutcome:
    """What happens to one STK push after the customer sees the prompt."""

    result_code: int = 0
    delay: float | None = None  # None: the stand-in's callback_delay
    duplicates: int = 1  # how many times the same callback is POSTed
    send_callback: bool = True  # False: the callback is lost (the query still reveals it)
    result_desc: str | None = None  # None: the official text for result_code


@dataclass
class StkTransaction:
    merchant_request_id: str
    checkout_request_id: str
    shortcode: str
    amount: int
    phone: str
    account_reference: str
    callback_url: str
    outcome: StkOutcome
    result_desc: str
    due_at: float  # time.monotonic() when the customer has "answered"
    receipt: str | None  # MpesaReceiptNumber when successful
    callback: dict[str, Any] | None = None  # the payload, once built

    def is_due(self) -> bool:
        return time.monotonic() >= self.due_at


# --------------------------------------------------------------------------------------------
# The stand-in
# --------------------------------------------------------------------------------------------


class DarajaStandIn(StandIn):
    """Daraja on localhost. ``start()`` it, point the app at ``base_url``, ``stop()`` it."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        callback_delay: float = 0.2,
        credentials: dict[str, str] | None = None,
        passkeys: dict[str, str] | None = None,
    ) -> None:
        super().__init__(host, port)
        self.callback_delay = callback_delay
        # consumer key -> secret; None accepts any pair.
        self.credentials = dict(credentials) if credentials is not None else None
        # shortcode -> passkey; the Password is only checked for shortcodes listed here.
        self.passkeys = (dict(passkeys) if passkeys is not None
                         else {SANDBOX_SHORTCODE: SANDBOX_PASSKEY})

        # Everything observable, all guarded by _lock (the Condition shares it).
        self.requests: list[dict[str, Any]] = []
        self.callbacks_sent: list[dict[str, Any]] = []
        self.credentials_seen: list[tuple[str, str]] = []
        self.tokens_issued = 0
        self.registered: dict[str, dict[str, str]] = {}
        self.stk_transactions: dict[str, StkTransaction] = {}

        self._callbacks_changed = threading.Condition(self._lock)
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._outcomes: deque[StkOutcome] = deque()
        self._receipts: set[str] = set()
        self._balances: dict[str, int] = {}
        self._sequence = 0
        self._routes: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str]] = {
            "/mpesa/stkpush/v1/processrequest": (self._stk_push, "BusinessShortCode"),
            "/mpesa/stkpushquery/v1/query": (self._stk_query, "BusinessShortCode"),
            "/mpesa/c2b/v1/registerurl": (lambda b: self._register_urls(b, "v1"), "ShortCode"),
            "/mpesa/c2b/v2/registerurl": (lambda b: self._register_urls(b, "v2"), "ShortCode"),
            "/mpesa/c2b/v1/simulate": (lambda b: self._c2b_simulate(b, "v1"), "ShortCode"),
            "/mpesa/c2b/v2/simulate": (lambda b: self._c2b_simulate(b, "v2"), "ShortCode"),
        }

    # -- serving (base.StandIn runs the server) -------------------------------------------

    name = "daraja-standin"
    server_version = "DarajaStandIn/1.0"

    def respond(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, str, bytes]:
        try:
            status, body = self._handle(method, target, headers, raw)
        except DarajaError as exc:
            status, body = exc.status, exc.body()
        return status, "application/json", json.dumps(body).encode("utf-8")

    def internal_error(self) -> tuple[int, str, bytes]:
        body = DarajaError(500, "500.003.1001", "Internal Server Error").body()
        return 500, "application/json", json.dumps(body).encode("utf-8")

    # -- test control ----------------------------------------------------------------------

    def queue_stk_outcome(
        self,
        result_code: int = 0,
        *,
        delay: float | None = None,
        duplicates: int = 1,
        send_callback: bool = True,
        result_desc: str | None = None,
    ) -> None:
        """The next STK push (FIFO) ends like this; with nothing queued, pushes succeed."""
        if isinstance(result_code, bool) or not isinstance(result_code, int):
            raise ValueError("result_code must be an int")
        if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int | float)
                                  or delay < 0):
            raise ValueError("delay must be a non-negative number of seconds or None")
        if isinstance(duplicates, bool) or not isinstance(duplicates, int) or duplicates < 1:
            raise ValueError("duplicates must be an int >= 1 (use send_callback=False for none)")
        if not isinstance(send_callback, bool):
            raise ValueError("send_callback must be a bool")
        if result_desc is not None and not isinstance(result_desc, str):
            raise ValueError("result_desc must be a string or None")
        with self._lock:
            self._outcomes.append(StkOutcome(result_code, None if delay is None else float(delay),
                                             duplicates, send_callback, result_desc))

    def wait_for_callbacks(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        """Block until at least ``n`` callbacks were POSTed (C2B validations count); return all.

        Raises TimeoutError with what did arrive when ``n`` are not reached in time.
        """
        deadline = time.monotonic() + timeout
        with self._callbacks_changed:
            while len(self.callbacks_sent) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    sent = [(c["url"], c["status"]) for c in self.callbacks_sent]
                    raise TimeoutError(f"expected {n} callbacks within {timeout}s, got {sent}")
                self._callbacks_changed.wait(remaining)
            return list(self.callbacks_sent)

    def simulate_c2b(
        self,
        *,
        shortcode: str,
        amount: int,
        bill_ref: str,
        msisdn: str = SANDBOX_MSISDN,
        version: str = "v1",
        duplicates: int = 1,
        trans_id: str | None = None,
        first_name: str = "JOHN",
    ) -> dict[str, Any]:
        """A customer pays ``bill_ref`` on ``shortcode``: the simulate API's rules and answer.

        Returns the same body the HTTP endpoint would (an error envelope included).
        """
        if version not in ("v1", "v2"):
            raise ValueError("version must be 'v1' or 'v2'")
        body: dict[str, Any] = {"ShortCode": shortcode, "CommandID": "CustomerPayBillOnline",
                                "Amount": amount, "Msisdn": msisdn, "BillRefNumber": bill_ref,
                                "_duplicates": duplicates, "_first_name": first_name}
        if trans_id is not None:
            body["_trans_id"] = trans_id
        try:
            return self._c2b_simulate(body, version)
        except DarajaError as exc:
            return exc.body()

    def expire_tokens(self) -> None:
        """Make every issued access token invalid (as after an hour), to test token refresh."""
        with self._lock:
            self._tokens.clear()

    # -- HTTP routing ----------------------------------------------------------------------

    def _handle(self, method: str, target: str, headers: dict[str, str], raw: bytes
                ) -> tuple[int, Any]:
        parsed = _parse_json(raw)
        with self._lock:
            self.requests.append({"method": method, "path": target, "headers": headers,
                                  "json": parsed})
        url = urllib.parse.urlsplit(target)
        path = url.path.rstrip("/") or "/"

        if path == "/":
            if method != "GET":
                raise DarajaError(405, "405.001", "Method Not Allowed")
            return 200, self._about()
        if path.startswith("/__standin__/"):
            return self._control(method, path, parsed)
        if path == "/oauth/v1/generate":
            if method != "GET":
                raise DarajaError(405, "405.001", "Method Not Allowed")
            return 200, self._oauth(url.query, headers.get("Authorization"))
        route = self._routes.get(path)
        if route is None:
            raise DarajaError(404, "404.001.01", "Resource not found")
        if method != "POST":
            raise DarajaError(405, "405.001", "Method Not Allowed")
        self._check_bearer(headers.get("Authorization"))
        handler, first_field = route
        # Documented: without Content-Type application/json Daraja blames the first field.
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise _invalid(first_field)
        if not isinstance(parsed, dict):
            raise _invalid("JSON")
        return 200, handler(parsed)

    def _about(self) -> dict[str, Any]:
        with self._lock:
            return {
                "service": "Daraja stand-in (MajiSmart development and tests; not Safaricom)",
                "base_url": self.base_url,
                "endpoints": ["/oauth/v1/generate", *self._routes],
                "control": ["/__standin__/stk-outcome", "/__standin__/requests",
                            "/__standin__/callbacks"],
                "sandbox": {"shortcode": SANDBOX_SHORTCODE, "msisdn": SANDBOX_MSISDN},
                "callback_delay": self.callback_delay,
                "tokens_issued": self.tokens_issued,
                "queued_stk_outcomes": len(self._outcomes),
                "registered_shortcodes": sorted(self.registered),
            }

    def _control(self, method: str, path: str, parsed: Any) -> tuple[int, Any]:
        if path == "/__standin__/stk-outcome" and method == "POST":
            if not isinstance(parsed, dict):
                return 400, {"error": "send a JSON object"}
            allowed = {"result_code", "delay", "duplicates", "send_callback", "result_desc"}
            unknown = set(parsed) - allowed
            if unknown:
                return 400, {"error": f"unknown fields: {sorted(unknown)}"}
            try:
                self.queue_stk_outcome(**parsed)
            except ValueError as exc:
                return 400, {"error": str(exc)}
            with self._lock:
                return 200, {"queued": len(self._outcomes)}
        if path == "/__standin__/requests" and method == "GET":
            with self._lock:
                return 200, list(self.requests)
        if path == "/__standin__/callbacks" and method == "GET":
            with self._lock:
                return 200, list(self.callbacks_sent)
        return 404, {"error": f"no control endpoint {method} {path}"}

    # -- OAuth -----------------------------------------------------------------------------

    def _oauth(self, query: str, authorization: str | None) -> dict[str, str]:
        if urllib.parse.parse_qs(query).get("grant_type") != ["client_credentials"]:
            raise DarajaError(400, "400.008.02", "Invalid grant type passed")
        pair = _basic_credentials(authorization)
        if pair is None:
            raise DarajaError(400, "400.008.01", "Invalid authentication type passed")
        with self._lock:
            self.credentials_seen.append(pair)
        key, secret = pair
        if self.credentials is not None and self.credentials.get(key) != secret:
            raise DarajaError(401, "400.008.01", "Invalid Authentication passed")
        token = "".join(secrets.choice(_TOKEN_CHARS) for _ in range(28))
        with self._lock:
            self._tokens[token] = time.monotonic() + TOKEN_LIFETIME
            self.tokens_issued += 1
        return {"access_token": token, "expires_in": str(int(TOKEN_LIFETIME) - 1)}

    def _check_bearer(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        with self._lock:
            expiry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is None or expiry <= time.monotonic():
            raise DarajaError(401, "404.001.03", "Invalid Access Token")

    def _check_password(self, shortcode: str, password: str, timestamp: str) -> None:
        passkey = self.passkeys.get(shortcode)
        if passkey is None:
            return  # unknown shortcode: any Password goes
        expected = base64.b64encode(f"{shortcode}{passkey}{timestamp}".encode()).decode()
        if password != expected:
            raise DarajaError(500, "500.001.1001", "Wrong credentials")

    # -- M-Pesa Express (STK push) ---------------------------------------------------------

    def _stk_push(self, body: dict[str, Any]) -> dict[str, Any]:
        shortcode = _shortcode(body, "BusinessShortCode")
        password = _text(body, "Password", max_len=1000)
        timestamp = _timestamp(body)
        if body.get("TransactionType") not in STK_TRANSACTION_TYPES:
            raise _invalid("TransactionType")
        amount = _amount(body)
        _phone(body, "PartyA")
        _shortcode(body, "PartyB")
        phone = _phone(body, "PhoneNumber")
        callback_url = body.get("CallBackURL")
        if not _is_http_url(callback_url):
            raise _invalid("CallBackURL")
        account_reference = _text(body, "AccountReference", max_len=12)
        _text(body, "TransactionDesc", max_len=13, required=False)
        self._check_password(shortcode, password, timestamp)

        with self._lock:
            outcome = self._outcomes.popleft() if self._outcomes else StkOutcome()
            self._sequence += 1
            merchant_id = (f"{10000 + secrets.randbelow(90000)}-"
                           f"{10_000_000 + secrets.randbelow(90_000_000)}-{self._sequence}")
            checkout_id = self._new_checkout_id(phone)
            receipt = self._new_receipt() if outcome.result_code == 0 else None
            delay = self.callback_delay if outcome.delay is None else outcome.delay
            txn = StkTransaction(
                merchant_request_id=merchant_id, checkout_request_id=checkout_id,
                shortcode=shortcode, amount=amount, phone=phone,
                account_reference=account_reference, callback_url=str(callback_url),
                outcome=outcome,
                result_desc=outcome.result_desc or STK_RESULT_DESCRIPTIONS.get(
                    outcome.result_code, f"Request failed (ResultCode {outcome.result_code})"),
                due_at=time.monotonic() + delay, receipt=receipt,
            )
            self.stk_transactions[checkout_id] = txn
        self._schedule(delay, self._finish_stk, txn)
        return {
            "MerchantRequestID": merchant_id,
            "CheckoutRequestID": checkout_id,
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
            "CustomerMessage": "Success. Request accepted for processing",
        }

    def _finish_stk(self, txn: StkTransaction) -> None:
        """The customer has answered: build the callback and POST it (maybe twice, maybe never)."""
        callback: dict[str, Any] = {
            "MerchantRequestID": txn.merchant_request_id,
            "CheckoutRequestID": txn.checkout_request_id,
            "ResultCode": txn.outcome.result_code,
            "ResultDesc": txn.result_desc,
        }
        if txn.outcome.result_code == 0:
            callback["CallbackMetadata"] = {"Item": [
                {"Name": "Amount", "Value": float(txn.amount)},
                {"Name": "MpesaReceiptNumber", "Value": txn.receipt},
                {"Name": "Balance"},  # production payloads carry it without a Value
                {"Name": "TransactionDate", "Value": int(_nairobi_now().strftime("%Y%m%d%H%M%S"))},
                {"Name": "PhoneNumber", "Value": int(txn.phone)},
            ]}
        payload = {"Body": {"stkCallback": callback}}
        with self._lock:
            txn.callback = payload
        if not txn.outcome.send_callback:
            log.info("STK %s: callback deliberately lost", txn.checkout_request_id)
            return
        for _ in range(txn.outcome.duplicates):
            self._send_callback(txn.callback_url, payload, kind="stk")

    def _stk_query(self, body: dict[str, Any]) -> dict[str, Any]:
        shortcode = _shortcode(body, "BusinessShortCode")
        password = _text(body, "Password", max_len=1000)
        timestamp = _timestamp(body)
        checkout_id = body.get("CheckoutRequestID")
        self._check_password(shortcode, password, timestamp)
        with self._lock:
            txn = self.stk_transactions.get(checkout_id) if isinstance(checkout_id, str) else None
        if txn is None or txn.shortcode != shortcode:
            raise _invalid("CheckoutRequestID")
        if not txn.is_due():
            raise DarajaError(500, "500.001.1001", "The transaction is being processed",
                              request_id=txn.checkout_request_id)
        return {
            "ResponseCode": "0",
            # Safaricom's own spelling in live responses.
            "ResponseDescription": "The service request has been accepted successsfully",
            "MerchantRequestID": txn.merchant_request_id,
            "CheckoutRequestID": txn.checkout_request_id,
            "ResultCode": str(txn.outcome.result_code),
            "ResultDesc": txn.result_desc,
        }

    # -- C2B -------------------------------------------------------------------------------

    def _register_urls(self, body: dict[str, Any], version: str) -> dict[str, Any]:
        shortcode = _shortcode(body, "ShortCode")
        response_type = body.get("ResponseType")
        if response_type not in C2B_RESPONSE_TYPES:
            raise _invalid("ResponseType")
        urls: dict[str, str] = {}
        for field in ("ConfirmationURL", "ValidationURL"):
            url = body.get(field)
            if not _is_http_url(url) or _has_banned_word(str(url)):
                raise _invalid(field)
            urls[field] = str(url)
        with self._lock:  # the sandbox lets you re-register as often as you like
            self.registered[shortcode] = {"ShortCode": shortcode,
                                          "ResponseType": str(response_type), **urls,
                                          "version": version}
        return {"OriginatorCoversationID": _conversation_id(), "ResponseCode": "0",
                "ResponseDescription": "Success"}

    def _c2b_simulate(self, body: dict[str, Any], version: str) -> dict[str, Any]:
        shortcode = _shortcode(body, "ShortCode")
        command = body.get("CommandID")
        if command not in C2B_TRANSACTION_TYPES:
            raise _invalid("CommandID")
        amount = _amount(body)
        msisdn = _phone(body, "Msisdn")
        bill_ref = _text(body, "BillRefNumber", max_len=20, required=False)
        duplicates = body.get("_duplicates", 1)
        if isinstance(duplicates, bool) or not isinstance(duplicates, int) or duplicates < 1:
            raise _invalid("_duplicates")
        trans_id = body.get("_trans_id")
        if trans_id is not None and not isinstance(trans_id, str):
            raise _invalid("_trans_id")
        first_name = body.get("_first_name", "JOHN")
        if not isinstance(first_name, str):
            raise _invalid("_first_name")
        with self._lock:
            registration = self.registered.get(shortcode)
            if registration is not None:
                trans_id = trans_id or self._new_receipt()
        if registration is None:
            raise DarajaError(500, "500.003.1001", "Internal Server Error")
        # Data minimisation: v1 sends a SHA-256 of the number, v2 a masked number; never digits.
        if version == "v1":
            shown_msisdn = hashlib.sha256(msisdn.encode()).hexdigest()
        else:
            shown_msisdn = f"{msisdn[:4]} ***** {msisdn[-3:]}"
        payload = {
            "TransactionType": C2B_TRANSACTION_TYPES[str(command)],
            "TransID": trans_id,
            "TransTime": _nairobi_now().strftime("%Y%m%d%H%M%S"),
            "TransAmount": f"{amount}.00",
            "BusinessShortCode": shortcode,
            "BillRefNumber": bill_ref,
            "InvoiceNumber": "",
            "OrgAccountBalance": "",
            "ThirdPartyTransID": "",
            "MSISDN": shown_msisdn,
            "FirstName": first_name,
            "MiddleName": "",
            "LastName": "",
        }
        self._schedule(self.callback_delay, self._run_c2b, dict(registration), payload, amount,
                       duplicates)
        return {"OriginatorCoversationID": _conversation_id(), "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully."}

    def _run_c2b(self, registration: dict[str, str], payload: dict[str, str], amount: int,
                 duplicates: int) -> None:
        """Validation first; confirmation only if accepted (or unanswered and "Completed")."""
        status, answer = self._send_callback(registration["ValidationURL"], payload,
                                             kind="c2b_validation")
        if isinstance(status, int) and 200 <= status < 300 and isinstance(answer, dict):
            accepted = str(answer.get("ResultCode")) == "0"
            third_party = answer.get("ThirdPartyTransID")
        else:  # no usable answer: M-Pesa applies the registered ResponseType
            accepted = registration["ResponseType"] == "Completed"
            third_party = None
        if not accepted:
            return
        shortcode = payload["BusinessShortCode"]
        with self._lock:
            self._balances[shortcode] = self._balances.get(shortcode, 0) + amount
            balance = self._balances[shortcode]
        confirmation = {**payload, "OrgAccountBalance": f"{balance}.00",
                        "ThirdPartyTransID": str(third_party) if third_party else ""}
        for _ in range(duplicates):
            self._send_callback(registration["ConfirmationURL"], confirmation,
                                kind="c2b_confirmation")

    # -- plumbing --------------------------------------------------------------------------

    def _send_callback(self, url: str, payload: dict[str, Any], *, kind: str
                       ) -> tuple[int | str, Any]:
        status, answer = post_json(url, payload)
        log.info("callback %s -> %s: %s", kind, url, status)
        with self._callbacks_changed:
            self.callbacks_sent.append({"url": url, "payload": payload, "status": status,
                                        "response": answer, "kind": kind})
            self._callbacks_changed.notify_all()
        return status, answer

    def _new_receipt(self) -> str:
        """A unique M-Pesa-looking receipt: 10 uppercase letters/digits, starting with a letter."""
        with self._lock:
            while True:
                receipt = secrets.choice(string.ascii_uppercase) + "".join(
                    secrets.choice(_ALNUM) for _ in range(9))
                if receipt not in self._receipts:
                    self._receipts.add(receipt)
                    return receipt

    def _new_checkout_id(self, phone: str) -> str:
        """``ws_CO_`` + ddmmyyyyHHMMSS + milliseconds + the phone's last 9 digits, like Daraja's."""
        now = _nairobi_now()
        millis = now.microsecond // 1000
        while True:
            checkout_id = f"ws_CO_{now:%d%m%Y%H%M%S}{millis:03d}{phone[-9:]}"
            if checkout_id not in self.stk_transactions:
                return checkout_id
            millis = (millis + 1) % 1000
            if millis == 0:
                now += timedelta(seconds=1)


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    key, sep, secret = decoded.partition(":")
    return (key, secret) if sep else None


def _conversation_id() -> str:
    """Like ``6e86-45dd-91ac-fd5d4178ab523408729``."""
    return (f"{secrets.token_hex(2)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}-"
            f"{secrets.token_hex(6)}{secrets.randbelow(10**7):07d}")


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _pairs(values: Sequence[str], what: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for value in values:
        key, sep, secret = value.partition("=")
        if not sep or not key:
            raise SystemExit(f"--{what} expects KEY=VALUE, got {value!r}")
        result[key] = secret
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devkit.standins.daraja",
        description="Serve a local Daraja (M-Pesa) stand-in until interrupted.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8701)
    parser.add_argument("--callback-delay", type=float, default=2.0,
                        help="seconds the 'customer' takes before the STK callback (default 2)")
    parser.add_argument("--passkey", action="append", default=[], metavar="SHORTCODE=PASSKEY",
                        help="check STK Passwords for this shortcode (174379 is always known)")
    parser.add_argument("--credential", action="append", default=[], metavar="KEY=SECRET",
                        help="accept only these consumer key/secret pairs (default: any)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s daraja-standin %(message)s")
    passkeys = {SANDBOX_SHORTCODE: SANDBOX_PASSKEY, **_pairs(args.passkey, "passkey")}
    credentials = _pairs(args.credential, "credential") or None
    standin = DarajaStandIn(args.host, args.port, callback_delay=args.callback_delay,
                            credentials=credentials, passkeys=passkeys).start()
    sys.stdout.write(f"Daraja stand-in serving on {standin.base_url} (Ctrl-C to stop)\n")
    sys.stdout.flush()

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
