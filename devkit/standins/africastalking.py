"""A local stand-in for Africa's Talking's SMS API, for development and tests.

What it is
    A small stdlib HTTP server (``ThreadingHTTPServer`` in a daemon thread) that answers the
    Africa's Talking SMS endpoints MajiSmart uses with the documented request rules and
    response shapes, and then POSTs delivery reports to our delivery-report URL over real HTTP
    the way AT does: later, from another thread, sometimes more than once, sometimes never.
    ``make run`` can point the app at it; tests start one on a free port and drive it with the
    test-control methods below.

What it speaks (shapes from shared/reference/payments-apis.md, section 2)
    POST /version1/messaging        form-encoded ``username``, ``to`` (comma-separated),
                                    ``message``, optional ``from``, ``bulkSMSMode``, ``enqueue``
    POST /version1/messaging/bulk   JSON ``{"username", "message", "senderId",
                                    "phoneNumbers": [...], "enqueue"}``
    Both need the headers ``apiKey: <key>`` and ``Accept: application/json`` and answer
    HTTP 201 with ``{"SMSMessageData": {"Message": "Sent to 1/1 Total Cost: KES 0.8000",
    "Recipients": [{"statusCode", "number", "status", "cost", "messageId", "messageParts"}]}}``.
    Refusals are plain text, as AT's are: 401 ``The supplied authentication is invalid``,
    400 for a missing or malformed field, 415 for a body of the wrong media type, 406 without
    ``Accept: application/json`` (AT would answer XML, which our client could not read).
    Per recipient: 403 InvalidPhoneNumber (not ``^\\+\\d{1,3}\\d{3,}$``), 402 InvalidSenderId
    (``from`` not one of ``sender_ids``), 406 UserInBlacklist (``blacklist``). Cost is
    KES 0.80 per segment per recipient; segments follow ``sms_segments``.

    Delivery reports are POSTed form-encoded (``id``, ``status``, ``phoneNumber``,
    ``networkCode``, ``failureReason`` only for Failed/Rejected) to the URL registered for the
    username, ``dlr_delay`` seconds after each accepted recipient.

    Test control, in Python (``queue_outcome``, ``blacklist``, ``register_dlr_url``,
    ``wait_for_messages``, ``wait_for_dlrs``, ``requests``, ``messages``, ``dlrs_sent``) and
    over HTTP for a stand-in running in its own process::

        POST /__standin__/outcome    {"http_status": null, "status_code": 405,
                                      "dlr_status": "Success", "failure_reason": null,
                                      "send_dlr": true, "dlr_duplicates": 1, "dlr_delay": null}
        POST /__standin__/dlr-url    {"username": "majismart", "url": "http://..."}
        POST /__standin__/blacklist  {"numbers": ["+254711000000"]}   (adds to the blacklist)
        GET  /__standin__/requests   the request log
        GET  /__standin__/messages   every accepted recipient
        GET  /__standin__/dlrs       every delivery report POSTed, with our server's answer
        GET  /                       what this server is

    Self-service, the other direction (AT calling the app), so `make run` can be tried offline.
    A USSD session POSTs AT's form fields ``sessionId, serviceCode, phoneNumber, networkCode,
    text`` (every answer so far joined by ``*``) to the code's callback URL and reads the
    ``CON ``/``END `` screen back; an incoming SMS POSTs ``from, to, text, date, id, linkId,
    networkCode``. In Python (``register_ussd_code``, ``register_sms_number``, ``ussd_dial``,
    ``ussd_answer``, ``sms_inject``) and over HTTP::

        POST /__standin__/ussd-code    {"code": "*384*1#", "url": "http://.../ussd/TOKEN/"}
        POST /__standin__/sms-number   {"number": "20001", "url": "http://.../sms/inbound/TOKEN/"}
        POST /__standin__/ussd/dial    {"phone": "+254712345678", "code": "*384*1#"}  (or "url")
                                       -> {"session", "status", "text", "reply", "ended"}
        POST /__standin__/ussd/answer  {"session": "ATUid_...", "input": "1"}  -> the same
        POST /__standin__/sms/inject   {"from": "+254712345678", "text": "BAL", "to": "20001"}
                                       (or "url"; optional "id" to repeat a delivery)
                                       -> {"id", "status", "response"}
        GET  /__standin__/inbound      every incoming SMS posted, with our server's answer
        GET  /__standin__/ussd         the simulator: a page to dial a code, type answers and
                                       send an SMS, with the SMS the phone received

What it is not
    Not an emulator of every AT rule: no XML answers, no premium SMS (``keyword``, ``linkId``,
    ``retryCount``), no balances, rate limits, fetch-messages, subscriptions, masked numbers, or
    any currency but KES; USSD sessions never time out. ``enqueue`` does not change the answer (always 101
    "Success"). The HTTP status is 201 whenever the request itself was accepted, even when
    every recipient failed. It keeps everything in memory and trusts everyone who reaches it:
    never expose it beyond localhost.

Run it on its own::

    python -m devkit.standins.africastalking --host 127.0.0.1 --port 8702
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import secrets
import signal
import sys
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from devkit.standins.base import StandIn, post

log = logging.getLogger(__name__)

SANDBOX_USERNAME = "sandbox"
SANDBOX_NETWORK_CODE = "99999"
DEFAULT_SENDER_ID = "AFRICASTKNG"
PRICE_PER_SEGMENT = Decimal("0.80")  # KES, per SMS segment per recipient
CURRENCY = "KES"
DLR_TIMEOUT = 10.0
USSD_TIMEOUT = 10.0  # AT waits a few seconds for a screen; the stand-in is patient
USSD_MAX_SCREEN = 182

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
AUTH_INVALID = "The supplied authentication is invalid"

# statusCode -> status, as AT documents them. 101 reads "Success" in AT's own sample response.
STATUS_NAMES: dict[int, str] = {
    100: "Processed",
    101: "Success",
    102: "Queued",
    401: "RiskHold",
    402: "InvalidSenderId",
    403: "InvalidPhoneNumber",
    404: "UnsupportedNumberType",
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    407: "CouldNotRoute",
    409: "DoNotDisturbRejection",
    500: "InternalServerError",
    501: "GatewayError",
    502: "RejectedByGateway",
}
SUCCESS_CODES = frozenset({100, 101, 102})

DLR_STATUSES = ("Sent", "Submitted", "Buffered", "Rejected", "Success", "Failed",
                "AbsentSubscriber", "Expired")
DLR_STATUSES_WITH_REASON = ("Failed", "Rejected")
# Spelled as AT documents them (note "UserInBlackList" here but "UserInBlacklist" as a status).
DLR_FAILURE_REASONS = ("InsufficientCredit", "InvalidLinkId", "UserIsInactive",
                       "UserInBlackList", "UserAccountSuspended", "NotNetworkSubcriber",
                       "UserNotSubscribedToProduct", "UserDoesNotExist", "DeliveryFailure",
                       "DoNotDisturbRejection")
DEFAULT_FAILURE_REASON = "DeliveryFailure"

# The phone-number rule of AT's own SDK (E.164 with "+"); ASCII digits only.
_PHONE = re.compile(r"\+[0-9]{1,3}[0-9]{3,}")

# Kenyan mobile prefixes -> networkCode (MCC 639 + MNC); the longest matching prefix wins.
SAFARICOM, AIRTEL, TELKOM, EQUITEL = "63902", "63903", "63907", "63999"
_KENYAN_PREFIXES: dict[str, str] = {
    "+25470": SAFARICOM, "+25471": SAFARICOM, "+25472": SAFARICOM,
    "+25474": SAFARICOM, "+25479": SAFARICOM,
    "+254757": SAFARICOM, "+254758": SAFARICOM, "+254759": SAFARICOM,
    "+254768": SAFARICOM, "+254769": SAFARICOM, "+25411": SAFARICOM,
    "+25473": AIRTEL, "+25478": AIRTEL, "+25410": AIRTEL,
    **{f"+25475{d}": AIRTEL for d in "0123456"},
    "+25477": TELKOM,
    **{f"+25476{d}": EQUITEL for d in "3456"},
}
DEFAULT_NETWORK_CODE = SAFARICOM

# GSM 03.38 default alphabet (the 127 characters of the basic table, ESC excluded) and the
# characters of its extension table, which take an escape septet plus their own.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

# The transport never goes through an environment proxy: delivery reports target this machine.


# --------------------------------------------------------------------------------------------
# Pure rules
# --------------------------------------------------------------------------------------------


def sms_segments(text: str) -> tuple[str, int]:
    """("GSM-7" or "UCS-2", how many SMS segments ``text`` takes).

    GSM-7 when every character is in the GSM 03.38 basic or extension table (extension
    characters count two septets): 160 septets fit one SMS, longer messages take 153 per part.
    Otherwise UCS-2, counted in UTF-16 code units (an emoji outside the BMP counts two): 70 fit
    one SMS, 67 per part. An empty text still takes one segment.
    """
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        encoding, length, single, part = "GSM-7", len(text) + sum(
            c in GSM7_EXTENSION for c in text), 160, 153
    else:
        encoding, length, single, part = "UCS-2", len(text.encode("utf-16-le")) // 2, 70, 67
    return encoding, 1 if length <= single else math.ceil(length / part)


def is_valid_number(number: str) -> bool:
    """AT's rule: international form with "+", e.g. ``+254712345678``."""
    return bool(_PHONE.fullmatch(number))


def network_code(number: str, *, username: str = "") -> str:
    """The DLR ``networkCode`` for ``number``: 99999 for the sandbox, else by Kenyan prefix."""
    if username == SANDBOX_USERNAME:
        return SANDBOX_NETWORK_CODE
    for length in (7, 6):
        code = _KENYAN_PREFIXES.get(number[:length])
        if code is not None:
            return code
    return DEFAULT_NETWORK_CODE


def format_cost(amount: Decimal) -> str:
    """``KES 0.8000``: currency code and four decimals, as AT writes costs."""
    return f"{CURRENCY} {amount.quantize(Decimal('0.0001'))}"


# --------------------------------------------------------------------------------------------
# Delivery-report transport
# --------------------------------------------------------------------------------------------


def post_form(url: str, fields: dict[str, str], timeout: float = DLR_TIMEOUT
              ) -> tuple[int | str, str]:
    """POST ``fields`` form-encoded; return (HTTP status or ``"error: ..."``, answer text).
    Never raises (``*.localhost`` is reached as base.post explains)."""
    headers = {"Content-Type": FORM, "User-Agent": "MajiSmart-AfricasTalking-StandIn/1.0"}
    status, raw = post(url, urllib.parse.urlencode(fields).encode("ascii"), headers, timeout)
    return status, raw[:10_000].decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmsOutcome:
    """What happens to one send request (every recipient in it) and its delivery reports."""

    http_status: int | None = None  # the whole request answers this, nothing is sent
    status_code: int | None = None  # None: the normal per-recipient rules
    dlr_status: str = "Success"
    failure_reason: str | None = None  # only for Failed/Rejected; None: DeliveryFailure
    send_dlr: bool = True  # False: the delivery report is lost
    dlr_duplicates: int = 1  # how many times the same report is POSTed
    dlr_delay: float | None = None  # None: the stand-in's dlr_delay


@dataclass(frozen=True)
class _Reply:
    status: int
    content_type: str
    body: bytes


def _text(status: int, message: str) -> _Reply:
    return _Reply(status, "text/plain; charset=utf-8", message.encode("utf-8"))


def _json(status: int, payload: Any) -> _Reply:
    return _Reply(status, JSON, json.dumps(payload).encode("utf-8"))


class _Refused(Exception):
    """A plain-text refusal of the whole request."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status} {message}")
        self.reply = _text(status, message)


def _canonical_header(name: str) -> str:
    """One spelling per header: ``apiKey`` as AT writes it, others ``Content-Type`` style."""
    if name.lower() == "apikey":
        return "apiKey"
    return "-".join(p.capitalize() for p in name.split("-"))


def _parse_form(raw: bytes) -> dict[str, str] | None:
    """A form body as a dict (first value wins for a repeated name); None if malformed."""
    try:
        pairs = urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True,
                                       strict_parsing=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        return None


def _flag(value: Any, field: str) -> None:
    """``enqueue`` / ``bulkSMSMode``: 0 or 1 (as text, a number or a JSON bool) when present."""
    if value is None or value is True or value is False or value in (0, 1, "0", "1"):
        return
    raise _Refused(400, f"Invalid value for '{field}': expected 0 or 1")


# --------------------------------------------------------------------------------------------
# The stand-in
# --------------------------------------------------------------------------------------------


class AfricasTalkingStandIn(StandIn):
    """Africa's Talking SMS on localhost. ``start()`` it, point the app at ``base_url``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        credentials: dict[str, str] | None = None,
        sender_ids: Iterable[str] | None = None,
        dlr_url: str | None = None,
        dlr_delay: float = 0.5,
        blacklist: Iterable[str] | None = None,
    ) -> None:
        super().__init__(host, port)
        # username -> api key; None accepts any username with any non-empty key.
        self.credentials = dict(credentials) if credentials is not None else None
        self.sender_ids: set[str] = (set(sender_ids) if sender_ids is not None
                                     else {DEFAULT_SENDER_ID})
        self.dlr_url = dlr_url  # for any username without its own registration
        self.dlr_delay = dlr_delay
        # Numbers (exactly as sent in ``to``) that answer 406 UserInBlacklist.
        self.blacklist: set[str] = set(blacklist or ())

        # Everything observable, all guarded by _lock (the Condition shares it).
        self.requests: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.dlrs_sent: list[dict[str, Any]] = []
        self.dlr_urls: dict[str, str] = {}

        self._changed = threading.Condition(self._lock)
        self._outcomes: deque[SmsOutcome] = deque()

        # Self-service: where each USSD code and SMS number sends its callbacks, the sessions
        # dialled and the incoming SMS posted.
        self.ussd_codes: dict[str, str] = {}
        self.sms_numbers: dict[str, str] = {}
        self.ussd_sessions: dict[str, dict[str, Any]] = {}
        self.inbound: list[dict[str, Any]] = []

    # -- serving (base.StandIn runs the server) -------------------------------------------

    name = "africastalking-standin"
    server_version = "AfricasTalkingStandIn/1.0"

    def respond(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, str, bytes]:
        try:
            reply = self._handle(method, target, headers, raw)
        except _Refused as exc:
            reply = exc.reply
        return reply.status, reply.content_type, reply.body

    def header_name(self, name: str) -> str:
        return _canonical_header(name)

    # -- test control ----------------------------------------------------------------------

    def queue_outcome(
        self,
        *,
        http_status: int | None = None,
        status_code: int | None = None,
        dlr_status: str = "Success",
        failure_reason: str | None = None,
        send_dlr: bool = True,
        dlr_duplicates: int = 1,
        dlr_delay: float | None = None,
    ) -> None:
        """The next accepted send request (FIFO) ends like this; with nothing queued, the
        normal rules apply. A request refused before sending (401, 400, ...) does not use it."""
        if http_status is not None and (isinstance(http_status, bool)
                                        or not isinstance(http_status, int)
                                        or not 400 <= http_status <= 599):
            raise ValueError("http_status must be an int from 400 to 599 or None")
        if status_code is not None and (isinstance(status_code, bool)
                                        or status_code not in STATUS_NAMES):
            raise ValueError(f"status_code must be one of {sorted(STATUS_NAMES)} or None")
        if http_status is not None and status_code is not None:
            raise ValueError("give http_status or status_code, not both")
        if dlr_status not in DLR_STATUSES:
            raise ValueError(f"dlr_status must be one of {list(DLR_STATUSES)}")
        if failure_reason is not None:
            if dlr_status not in DLR_STATUSES_WITH_REASON:
                raise ValueError("failure_reason only goes with dlr_status Failed or Rejected")
            if failure_reason not in DLR_FAILURE_REASONS:
                raise ValueError(f"failure_reason must be one of {list(DLR_FAILURE_REASONS)}")
        if not isinstance(send_dlr, bool):
            raise ValueError("send_dlr must be a bool")
        if (isinstance(dlr_duplicates, bool) or not isinstance(dlr_duplicates, int)
                or dlr_duplicates < 1):
            raise ValueError("dlr_duplicates must be an int >= 1 (use send_dlr=False for none)")
        if dlr_delay is not None and (isinstance(dlr_delay, bool)
                                      or not isinstance(dlr_delay, int | float) or dlr_delay < 0):
            raise ValueError("dlr_delay must be a non-negative number of seconds or None")
        with self._lock:
            self._outcomes.append(SmsOutcome(
                http_status=http_status, status_code=status_code, dlr_status=dlr_status,
                failure_reason=failure_reason, send_dlr=send_dlr, dlr_duplicates=dlr_duplicates,
                dlr_delay=None if dlr_delay is None else float(dlr_delay)))

    def register_dlr_url(self, username: str, url: str) -> None:
        """Where delivery reports for ``username`` go (AT: SMS -> SMS Callback URLs)."""
        if not isinstance(username, str) or not username:
            raise ValueError("username must be a non-empty string")
        parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an http(s) URL")
        with self._lock:
            self.dlr_urls[username] = url

    def wait_for_messages(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        """Block until at least ``n`` recipients were accepted; return them all."""
        return self._wait(self.messages, n, timeout, "accepted messages")

    def wait_for_dlrs(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        """Block until at least ``n`` delivery reports were POSTed (answered or not)."""
        return self._wait(self.dlrs_sent, n, timeout, "delivery reports")

    # -- self-service: USSD sessions and incoming SMS --------------------------------------

    def register_ussd_code(self, code: str, url: str) -> None:
        """Dialling ``code`` posts the session's steps to ``url`` (the provider's /ussd/TOKEN/)."""
        if not code.strip() or not url.startswith(("http://", "https://")):
            raise ValueError("give a code and an http(s) URL")
        with self._lock:
            self.ussd_codes[code.strip()] = url

    def register_sms_number(self, number: str, url: str) -> None:
        """SMS to ``number`` are posted to ``url`` (the provider's /sms/inbound/TOKEN/)."""
        if not number.strip() or not url.startswith(("http://", "https://")):
            raise ValueError("give a number and an http(s) URL")
        with self._lock:
            self.sms_numbers[number.strip()] = url

    def _target(self, table: dict[str, str], key: str | None, url: str | None, what: str) -> str:
        with self._lock:
            target = url or (table.get(key.strip()) if key else None)
        if not target:
            raise ValueError(f"no callback URL for {what} {key!r}: register one or give a url")
        return target

    def ussd_dial(self, *, phone: str, code: str | None = None, url: str | None = None) -> dict[str, Any]:
        """Dial ``code`` from ``phone``: a new session, its first screen."""
        if not is_valid_number(phone):
            raise ValueError("the phone must be in international form, e.g. +254712345678")
        target = self._target(self.ussd_codes, code, url, "USSD code")
        session: dict[str, Any] = {"session": f"ATUid_{secrets.token_hex(16)}", "code": (code or "*384*0#").strip(),
                   "phone": phone, "url": target, "answers": [], "screens": [], "ended": False}
        with self._lock:
            self.ussd_sessions[session["session"]] = session
        return self._ussd_step(session)

    def ussd_answer(self, *, session: str, input: str) -> dict[str, Any]:  # noqa: A002 - what the caller typed
        """Type ``input`` on the session's screen and send it."""
        with self._lock:
            state = self.ussd_sessions.get(session)
            if state is None:
                raise ValueError(f"no session {session!r}")
            if state["ended"]:
                raise ValueError("this session has ended: dial again")
            state["answers"].append(input.strip())
        return self._ussd_step(state)

    def _ussd_step(self, session: dict[str, Any]) -> dict[str, Any]:
        fields = {"sessionId": session["session"], "serviceCode": session["code"], "phoneNumber": session["phone"],
                  "networkCode": network_code(session["phone"]), "text": "*".join(session["answers"])}
        status, answer = post_form(session["url"], fields, timeout=USSD_TIMEOUT)
        valid = status == 200 and answer.startswith(("CON ", "END "))
        # What the phone shows: AT ends a session whose callback failed or answered no screen.
        ended = not valid or answer.startswith("END ")
        step = {"session": session["session"], "status": status, "text": fields["text"], "reply": answer,
                "ended": ended, "too_long": len(answer) > USSD_MAX_SCREEN}
        with self._changed:
            session["screens"].append(step)
            session["ended"] = ended
            self._changed.notify_all()
        log.info("USSD %s %s -> %s", session["code"], fields["text"] or "(dial)", status)
        return step

    def sms_inject(self, *, phone: str, text: str, to: str | None = None, url: str | None = None,
                   message_id: str | None = None) -> dict[str, Any]:
        """An SMS from ``phone`` to ``to`` posted as AT posts incoming messages; the same
        ``message_id`` again is AT retrying a delivery."""
        target = self._target(self.sms_numbers, to, url, "SMS number")
        fields = {"from": phone, "to": (to or "").strip(), "text": text,
                  "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                  "id": message_id or f"ATXid_{secrets.token_hex(16)}", "linkId": "",
                  "networkCode": network_code(phone)}
        status, answer = post_form(target, fields)
        entry = {"url": target, "payload": fields, "status": status, "response": answer}
        with self._changed:
            self.inbound.append(entry)
            self._changed.notify_all()
        return {"id": fields["id"], "status": status, "response": answer}

    def _wait(self, items: list[dict[str, Any]], n: int, timeout: float, what: str
              ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(items) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {n} {what} within {timeout}s, got {len(items)}")
                self._changed.wait(remaining)
            return list(items)

    # -- HTTP routing ----------------------------------------------------------------------

    def _handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> _Reply:
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        form = _parse_form(raw) if content_type == FORM else None
        parsed = _parse_json(raw) if content_type == JSON else None
        with self._lock:
            self.requests.append({"method": method, "path": target, "headers": headers,
                                  "form": form, "json": parsed})
        path = urllib.parse.urlsplit(target).path.rstrip("/") or "/"

        if path == "/":
            if method != "GET":
                raise _Refused(405, "Method Not Allowed")
            return _json(200, self._about())
        if path == "/__standin__/ussd":
            return self._simulator(method, form)
        if path.startswith("/__standin__/"):
            return self._control(method, path, parsed)
        if path not in ("/version1/messaging", "/version1/messaging/bulk"):
            raise _Refused(404, "Not Found")
        if method != "POST":
            raise _Refused(405, "Method Not Allowed")
        if JSON not in headers.get("Accept", "").lower():
            raise _Refused(406, "This stand-in answers JSON only: send Accept: application/json")
        api_key = headers.get("apiKey", "")
        if not api_key:
            raise _Refused(401, AUTH_INVALID)
        if path == "/version1/messaging":
            return self._messaging(content_type, form, api_key)
        return self._bulk(content_type, parsed, api_key)

    def _about(self) -> dict[str, Any]:
        with self._lock:
            return {
                "service": "Africa's Talking SMS stand-in (MajiSmart development and tests; "
                           "not Africa's Talking)",
                "base_url": self.base_url,
                "endpoints": ["/version1/messaging", "/version1/messaging/bulk"],
                "control": ["/__standin__/outcome", "/__standin__/dlr-url",
                            "/__standin__/blacklist", "/__standin__/requests",
                            "/__standin__/messages", "/__standin__/dlrs",
                            *_SELF_SERVICE_CONTROLS, "/__standin__/inbound"],
                "simulator": f"{self.base_url}/__standin__/ussd",
                "ussd_codes": dict(self.ussd_codes),
                "sms_numbers": dict(self.sms_numbers),
                "sandbox_username": SANDBOX_USERNAME,
                "sender_ids": sorted(self.sender_ids),
                "price_per_segment": format_cost(PRICE_PER_SEGMENT),
                "dlr_url": self.dlr_url,
                "dlr_urls": dict(self.dlr_urls),
                "dlr_delay": self.dlr_delay,
                "queued_outcomes": len(self._outcomes),
                "messages_accepted": len(self.messages),
                "dlrs_sent": len(self.dlrs_sent),
            }

    def _control(self, method: str, path: str, parsed: Any) -> _Reply:
        if path == "/__standin__/outcome" and method == "POST":
            if not isinstance(parsed, dict):
                return _json(400, {"error": "send a JSON object"})
            allowed = {"http_status", "status_code", "dlr_status", "failure_reason", "send_dlr",
                       "dlr_duplicates", "dlr_delay"}
            unknown = set(parsed) - allowed
            if unknown:
                return _json(400, {"error": f"unknown fields: {sorted(unknown)}"})
            try:
                self.queue_outcome(**parsed)
            except ValueError as exc:
                return _json(400, {"error": str(exc)})
            with self._lock:
                return _json(200, {"queued": len(self._outcomes)})
        if path == "/__standin__/dlr-url" and method == "POST":
            if not isinstance(parsed, dict) or set(parsed) != {"username", "url"}:
                return _json(400, {"error": 'send {"username": ..., "url": ...}'})
            try:
                self.register_dlr_url(parsed["username"], parsed["url"])
            except ValueError as exc:
                return _json(400, {"error": str(exc)})
            with self._lock:
                return _json(200, {"dlr_urls": dict(self.dlr_urls)})
        if path == "/__standin__/blacklist" and method == "POST":
            numbers = parsed.get("numbers") if isinstance(parsed, dict) else None
            if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
                return _json(400, {"error": 'send {"numbers": ["+254..."]}'})
            with self._lock:
                self.blacklist.update(numbers)
                return _json(200, {"blacklist": sorted(self.blacklist)})
        if method == "GET" and path in ("/__standin__/requests", "/__standin__/messages",
                                        "/__standin__/dlrs", "/__standin__/inbound"):
            log_ = {"/__standin__/requests": self.requests, "/__standin__/messages": self.messages,
                    "/__standin__/dlrs": self.dlrs_sent, "/__standin__/inbound": self.inbound}[path]
            with self._lock:
                return _json(200, list(log_))
        if method == "POST" and path in _SELF_SERVICE_CONTROLS:
            name, fields = _SELF_SERVICE_CONTROLS[path]
            if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
                return _json(400, {"error": f"send a JSON object of strings: {fields}"})
            try:
                return _json(200, getattr(self, name)(**parsed) or {"ok": True})
            except (TypeError, ValueError) as exc:
                return _json(400, {"error": str(exc)})
        return _json(404, {"error": f"no control endpoint {method} {path}"})

    def _simulator(self, method: str, form: dict[str, str] | None) -> _Reply:
        """The USSD and SMS simulator page; its forms post back here (no script)."""
        if method not in ("GET", "POST"):
            raise _Refused(405, "Method Not Allowed")
        form = form or {}
        step: dict[str, Any] | None = None
        problem = ""
        try:
            action = form.get("action")
            if method == "POST" and action == "dial":
                step = self.ussd_dial(phone=form.get("phone", "").strip(), code=form.get("code") or None)
            elif method == "POST" and action == "answer":
                step = self.ussd_answer(session=form.get("session", ""), input=form.get("input", ""))
            elif method == "POST" and action == "sms":
                self.sms_inject(phone=form.get("phone", "").strip(), text=form.get("text", ""),
                                to=form.get("number") or None)
        except ValueError as exc:
            problem = str(exc)
        return _Reply(200, "text/html; charset=utf-8", simulator_page(
            codes=dict(self.ussd_codes), numbers=dict(self.sms_numbers), phone=form.get("phone", ""),
            step=step, problem=problem,
            received=[m for m in list(self.messages) if m["number"] == form.get("phone", "").strip()][-5:]
        ).encode("utf-8"))

    def _check_key(self, username: str, api_key: str) -> None:
        if self.credentials is not None and self.credentials.get(username) != api_key:
            raise _Refused(401, AUTH_INVALID)

    # -- the two send endpoints ------------------------------------------------------------

    def _messaging(self, content_type: str, form: dict[str, str] | None, api_key: str) -> _Reply:
        if content_type != FORM:
            raise _Refused(415, f"Unsupported Media Type: send the body as {FORM}")
        if form is None:
            raise _Refused(400, "Malformed form body")
        username = form.get("username", "").strip()
        if not username:
            raise _Refused(400, "Request is missing required form field 'username'")
        self._check_key(username, api_key)
        numbers = [n.strip() for n in form.get("to", "").split(",") if n.strip()]
        if not numbers:
            raise _Refused(400, "Request is missing required form field 'to'")
        message = form.get("message", "")
        if not message:
            raise _Refused(400, "Request is missing required form field 'message'")
        _flag(form.get("bulkSMSMode"), "bulkSMSMode")
        _flag(form.get("enqueue"), "enqueue")
        return self._send(endpoint="messaging", username=username, numbers=numbers,
                          message=message, sender=form.get("from") or None)

    def _bulk(self, content_type: str, body: Any, api_key: str) -> _Reply:
        if content_type != JSON:
            raise _Refused(415, f"Unsupported Media Type: send the body as {JSON}")
        if not isinstance(body, dict):
            raise _Refused(400, "Request body must be a JSON object")
        username = body.get("username")
        if not isinstance(username, str) or not username.strip():
            raise _Refused(400, "Request is missing required field 'username'")
        self._check_key(username.strip(), api_key)
        numbers = body.get("phoneNumbers")
        if not isinstance(numbers, list) or not numbers:
            raise _Refused(400, "Request is missing required field 'phoneNumbers'")
        if not all(isinstance(n, str) for n in numbers):
            raise _Refused(400, "Invalid value for 'phoneNumbers': expected a list of strings")
        message = body.get("message")
        if not isinstance(message, str) or not message:
            raise _Refused(400, "Request is missing required field 'message'")
        sender = body.get("senderId")
        if sender is not None and not isinstance(sender, str):
            raise _Refused(400, "Invalid value for 'senderId': expected a string")
        _flag(body.get("enqueue"), "enqueue")
        return self._send(endpoint="bulk", username=username.strip(),
                          numbers=[n.strip() for n in numbers], message=message,
                          sender=sender or None)

    def _recipient_code(self, number: str, sender: str | None, outcome: SmsOutcome) -> int:
        """Forced code first, then sender ID, phone number and blacklist, first failure wins."""
        if outcome.status_code is not None:
            return outcome.status_code
        if sender is not None and sender not in self.sender_ids:
            return 402
        if not is_valid_number(number):
            return 403
        if number in self.blacklist:
            return 406
        return 101

    def _send(self, *, endpoint: str, username: str, numbers: list[str], message: str,
              sender: str | None) -> _Reply:
        with self._lock:
            outcome = self._outcomes.popleft() if self._outcomes else SmsOutcome()
        if outcome.http_status is not None:
            try:
                phrase = HTTPStatus(outcome.http_status).phrase
            except ValueError:
                phrase = "Error"
            return _text(outcome.http_status, phrase)
        encoding, parts = sms_segments(message)
        cost = PRICE_PER_SEGMENT * parts
        recipients: list[dict[str, Any]] = []
        accepted: list[dict[str, Any]] = []
        with self._lock:
            for number in numbers:
                code = self._recipient_code(number, sender, outcome)
                if code in SUCCESS_CODES:
                    message_id = f"ATXid_{secrets.token_hex(16)}"
                    recipients.append({"statusCode": code, "number": number,
                                       "status": STATUS_NAMES[code], "cost": format_cost(cost),
                                       "messageId": message_id, "messageParts": parts})
                    accepted.append({"username": username, "number": number, "message": message,
                                     "from": sender, "messageId": message_id, "parts": parts,
                                     "cost": format_cost(cost), "encoding": encoding,
                                     "statusCode": code, "endpoint": endpoint})
                else:  # AT's failure entries carry no messageParts
                    recipients.append({"statusCode": code, "number": number,
                                       "status": STATUS_NAMES[code], "cost": "0",
                                       "messageId": "None"})
            self.messages.extend(accepted)
            self._changed.notify_all()
        total = format_cost(cost * len(accepted)) if accepted else "0"
        delay = self.dlr_delay if outcome.dlr_delay is None else outcome.dlr_delay
        for entry in accepted:
            if outcome.send_dlr:
                self._schedule(delay, self._deliver, username, entry, outcome)
            else:
                log.info("SMS %s: delivery report deliberately lost", entry["messageId"])
        return _json(201, {"SMSMessageData": {
            "Message": f"Sent to {len(accepted)}/{len(numbers)} Total Cost: {total}",
            "Recipients": recipients,
        }})

    # -- delivery reports ------------------------------------------------------------------

    def _deliver(self, username: str, entry: dict[str, Any], outcome: SmsOutcome) -> None:
        with self._lock:
            url = self.dlr_urls.get(username, self.dlr_url)
        if url is None:
            log.warning("SMS %s: no delivery-report URL for username %r; report dropped",
                        entry["messageId"], username)
            return
        payload = {"id": entry["messageId"], "status": outcome.dlr_status,
                   "phoneNumber": entry["number"],
                   "networkCode": network_code(entry["number"], username=username)}
        if outcome.dlr_status in DLR_STATUSES_WITH_REASON:
            payload["failureReason"] = outcome.failure_reason or DEFAULT_FAILURE_REASON
        for _ in range(outcome.dlr_duplicates):
            status, answer = post_form(url, payload)
            log.info("delivery report %s -> %s: %s", payload["id"], url, status)
            with self._changed:
                self.dlrs_sent.append({"url": url, "payload": dict(payload), "status": status,
                                       "response": answer})
                self._changed.notify_all()



_SELF_SERVICE_CONTROLS: dict[str, tuple[str, str]] = {
    "/__standin__/ussd-code": ("register_ussd_code", '{"code", "url"}'),
    "/__standin__/sms-number": ("register_sms_number", '{"number", "url"}'),
    "/__standin__/ussd/dial": ("ussd_dial", '{"phone", "code" or "url"}'),
    "/__standin__/ussd/answer": ("ussd_answer", '{"session", "input"}'),
    "/__standin__/sms/inject": ("sms_inject", '{"phone", "text", "to" or "url", "message_id"}'),
}


def simulator_page(*, codes: dict[str, str], numbers: dict[str, str], phone: str,
                   step: dict[str, Any] | None, problem: str, received: list[dict[str, Any]]) -> str:
    """A phone on a page: dial a registered code, answer its screens, text a number."""
    from html import escape

    def options(items: dict[str, str]) -> str:
        return "".join(f'<option value="{escape(k)}">{escape(k)} &rarr; {escape(v)}</option>'
                       for k, v in sorted(items.items()))

    screen = ""
    if step is not None:
        screen = f'<pre id="screen">{escape(step["reply"] or str(step["status"]))}</pre>'
        if not step["ended"]:
            screen += (f'<form method="post"><input type="hidden" name="action" value="answer">'
                       f'<input type="hidden" name="session" value="{escape(step["session"])}">'
                       f'<input type="hidden" name="phone" value="{escape(phone)}">'
                       '<input name="input" autofocus autocomplete="off"> <button>Send</button></form>')
    sms = "".join(f"<li>{escape(m['message'])}</li>" for m in received)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>USSD and SMS simulator (Africa's Talking stand-in)</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:2em auto}}pre{{background:#111;color:#9f9;
padding:1em;white-space:pre-wrap;min-height:6em}}.problem{{color:#b00}}</style></head><body>
<h1>USSD and SMS simulator</h1>
<p>The local Africa's Talking stand-in, not Africa's Talking. Dial a provider's code as a
client's phone (a number on a client's account) and answer its screens; or text its number.</p>
{f'<p class="problem">{escape(problem)}</p>' if problem else ''}
<form method="post"><input type="hidden" name="action" value="dial">
<label>Phone <input name="phone" value="{escape(phone)}" placeholder="+254712345678"></label>
<label>Code <select name="code">{options(codes)}</select></label> <button>Dial</button></form>
{screen}
<h2>Send an SMS</h2>
<form method="post"><input type="hidden" name="action" value="sms">
<label>Phone <input name="phone" value="{escape(phone)}" placeholder="+254712345678"></label>
<label>To <select name="number">{options(numbers)}</select></label>
<label>Text <input name="text" placeholder="BAL"></label> <button>Send</button></form>
<h2>SMS this phone received</h2><ul id="received">{sms}</ul>
</body></html>"""


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
        prog="python -m devkit.standins.africastalking",
        description="Serve a local Africa's Talking SMS stand-in until interrupted.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8702)
    parser.add_argument("--dlr-url", default=None,
                        help="POST delivery reports here for any username (default: none)")
    parser.add_argument("--credential", action="append", default=[], metavar="USER=KEY",
                        help="accept only these username/apiKey pairs (default: any)")
    parser.add_argument("--sender-id", action="append", default=[], metavar="ID",
                        help=f"allowed 'from' sender IDs, repeatable "
                             f"(default: {DEFAULT_SENDER_ID})")
    parser.add_argument("--dlr-delay", type=float, default=0.5,
                        help="seconds before a delivery report is POSTed (default 0.5)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s africastalking-standin %(message)s")
    standin = AfricasTalkingStandIn(
        args.host, args.port, credentials=_pairs(args.credential, "credential") or None,
        sender_ids=args.sender_id or None, dlr_url=args.dlr_url,
        dlr_delay=args.dlr_delay).start()
    sys.stdout.write(f"Africa's Talking stand-in serving on {standin.base_url} (Ctrl-C to stop)\n")
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
