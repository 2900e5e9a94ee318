"""Africa's Talking's SMS API, as documented (shared/reference/payments-apis.md §2).

The standard library suffices: one form-encoded POST. The official SDK keeps one username and
key in module globals (`africastalking.initialize`), which cannot serve many providers with
their own accounts from one process, and fixes its hosts, which rules out the local stand-in.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings

from majismart import outbound

log = logging.getLogger(__name__)

ACCEPTED = {100, 101, 102}  # Processed, Sent, Queued: delivery is known only from the report
# Worth another attempt later: the account ran dry, or AT or the operator's gateway failed.
RETRYABLE = {405, 500, 501, 502}
STATUS_TEXT = {
    401: "Held by Africa's Talking for review (RiskHold).",
    402: "The sender ID is not registered on this Africa's Talking account.",
    403: "Not a valid phone number.",
    404: "This kind of number cannot receive SMS.",
    405: "The Africa's Talking account has too little credit.",
    406: "The number has blocked messages from this sender.",
    407: "The message could not be routed to the network.",
    409: "The number is on the Do-Not-Disturb list.",
    500: "Africa's Talking had an internal error.",
    501: "The network's gateway failed.",
    502: "The network's gateway rejected the message.",
}


class SmsError(Exception):
    """The request as a whole failed; `transient` says whether to try again later."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Recipient:
    number: str
    status_code: int
    status: str
    message_id: str
    cost: Decimal | None
    parts: int

    @property
    def accepted(self) -> bool:
        return self.status_code in ACCEPTED

    @property
    def retryable(self) -> bool:
        return self.status_code in RETRYABLE

    @property
    def explanation(self) -> str:
        return STATUS_TEXT.get(self.status_code, f"Africa's Talking answered {self.status} ({self.status_code}).")


def _cost(raw: object) -> Decimal | None:
    # "KES 0.8000"; "0" when nothing was sent.
    text = str(raw or "").split()[-1:] or ["0"]
    try:
        return Decimal(text[0])
    except InvalidOperation:
        return None


def _int(raw: object) -> int:
    try:
        return int(str(raw))
    except ValueError:
        return 0


def send(*, environment: str, username: str, api_key: str, sender_id: str, to: list[str], message: str) -> list[Recipient]:
    """Send one text to `to` (E.164 numbers with "+"); one Recipient per number AT answered for."""
    form = {"username": username, "to": ",".join(to), "message": message, "bulkSMSMode": "1", "enqueue": "1"}
    if sender_id:
        form["from"] = sender_id
    try:
        with outbound.urlopen(
                f"{settings.AFRICASTALKING_URLS[environment]}/version1/messaging", method="POST",
                data=urllib.parse.urlencode(form).encode(),
                headers={"apiKey": api_key, "Accept": "application/json",
                         "Content-Type": "application/x-www-form-urlencoded"},
                timeout=settings.NOTIFICATIONS_HTTP_TIMEOUT) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()[:200].decode("utf-8", "replace").strip()
        if exc.code in (401, 403):
            raise SmsError("Africa's Talking refused the username or API key.", transient=False) from None
        raise SmsError(f"Africa's Talking answered HTTP {exc.code}: {body}", transient=exc.code >= 500 or exc.code == 429) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise SmsError(f"Africa's Talking could not be reached: {exc}", transient=True) from None
    try:
        data = json.loads(raw)["SMSMessageData"]
        recipients = data.get("Recipients") or []
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SmsError("Africa's Talking sent an answer we could not read.", transient=True) from None
    return [Recipient(number=str(r.get("number", "")), status_code=_int(r.get("statusCode")),
                      status=str(r.get("status", "")), message_id=str(r.get("messageId") or ""),
                      cost=_cost(r.get("cost")), parts=_int(r.get("messageParts") or 1))
            for r in recipients if isinstance(r, dict)]
