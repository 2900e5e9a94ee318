"""The Africa's Talking SMS stand-in, over real HTTP: documented shapes, refusals and DLRs.

Each test starts a stand-in on a free port and a tiny receiver playing our delivery-report
endpoint. No database: nothing here asks for a `db` fixture.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devkit.standins.africastalking import AfricasTalkingStandIn, network_code, sms_segments

USERNAME = "majismart"
API_KEY = "atsk_live_key_123"
SANDBOX_KEY = "atsk_sandbox_key_456"
SAFARICOM = "+254712345678"
AIRTEL = "+254733123456"
FORM = "application/x-www-form-urlencoded"
MESSAGE_ID = re.compile(r"ATXid_[0-9a-f]{32}")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --- a stand-in for our own delivery-report endpoint -------------------------------------------


class Receiver:
    """Records every POST with its parsed form body; answers 500 on /fail paths, else 200."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._changed:
                    receiver.received.append({
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type"),
                        "form": dict(urllib.parse.parse_qsl(raw.decode(), strict_parsing=True)),
                    })
                    receiver._changed.notify_all()
                status = 500 if self.path.startswith("/fail") else 200
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def wait(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.received) < n:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"expected {n} DLRs, got {self.received}"
                self._changed.wait(remaining)
            return list(self.received)

    def forms(self) -> list[dict[str, str]]:
        with self._changed:
            return [r["form"] for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def standin(receiver: Receiver) -> Iterator[AfricasTalkingStandIn]:
    s = AfricasTalkingStandIn(credentials={USERNAME: API_KEY, "sandbox": SANDBOX_KEY},
                              dlr_url=f"{receiver.url}/dlr", dlr_delay=0.05).start()
    yield s
    s.stop()


# --- a plain HTTP client --------------------------------------------------------------------------


def request(base: str, method: str, path: str, *, data: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, str, Any]:
    """(HTTP status, Content-Type, body parsed as JSON when it says JSON, else text)."""
    req = urllib.request.Request(base + path, data=data, method=method,  # noqa: S310
                                 headers=headers or {})
    try:
        with OPENER.open(req, timeout=10) as response:
            status, ctype, raw = response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        status, ctype, raw = exc.code, exc.headers["Content-Type"], exc.read()
    body = json.loads(raw) if ctype == "application/json" else raw.decode()
    return status, ctype, body


def send(standin: AfricasTalkingStandIn, fields: dict[str, str] | None = None, *,
         api_key: str | None = API_KEY, accept: str | None = "application/json",
         content_type: str = FORM, raw: bytes | None = None) -> tuple[int, str, Any]:
    """POST /version1/messaging the way our SMS client does (form body, apiKey, Accept)."""
    headers = {"Content-Type": content_type}
    if api_key is not None:
        headers["apiKey"] = api_key
    if accept is not None:
        headers["Accept"] = accept
    data = raw if raw is not None else urllib.parse.urlencode(fields or {}).encode()
    return request(standin.base_url, "POST", "/version1/messaging", data=data, headers=headers)


def sms(to: str = SAFARICOM, message: str = "Your water bill is KES 1,250.", **extra: str
        ) -> dict[str, str]:
    return {"username": USERNAME, "to": to, "message": message, **extra}


def control(standin: AfricasTalkingStandIn, method: str, path: str, payload: Any = None
            ) -> tuple[int, Any]:
    data = json.dumps(payload).encode() if payload is not None else None
    status, _, body = request(standin.base_url, method, path, data=data,
                              headers={"Content-Type": "application/json"} if data else {})
    return status, body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- segments (pure) ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("a" * 160, ("GSM-7", 1)),
    ("a" * 161, ("GSM-7", 2)),
    ("a" * 306, ("GSM-7", 2)),
    ("a" * 307, ("GSM-7", 3)),
    ("€" * 80, ("GSM-7", 1)),  # extension characters take two septets: 160
    ("a" * 159 + "€", ("GSM-7", 2)),  # 161 septets
    ("a" * 158 + "[", ("GSM-7", 1)),  # 160 septets
    ("ñ" * 160, ("GSM-7", 1)),  # ñ is in the GSM 03.38 basic table
    ("—" * 70, ("UCS-2", 1)),  # an em dash is not GSM-7
    ("—" * 71, ("UCS-2", 2)),
    ("ç" + "a" * 134, ("UCS-2", 3)),  # 135 units > 2 x 67
    ("💧" * 35, ("UCS-2", 1)),  # outside the BMP: two UTF-16 code units each, 70
    ("💧" * 35 + "a", ("UCS-2", 2)),  # 71 units
    ("", ("GSM-7", 1)),
])
def test_sms_segments(text: str, expected: tuple[str, int]) -> None:
    assert sms_segments(text) == expected


@pytest.mark.parametrize(("number", "code"), [
    ("+254700000000", "63902"), ("+254712345678", "63902"), ("+254722000000", "63902"),
    ("+254740000000", "63902"), ("+254757000000", "63902"), ("+254759000000", "63902"),
    ("+254768000000", "63902"), ("+254769000000", "63902"), ("+254790000000", "63902"),
    ("+254110000000", "63902"),
    ("+254733123456", "63903"), ("+254750000000", "63903"), ("+254756000000", "63903"),
    ("+254780000000", "63903"), ("+254100000000", "63903"),
    ("+254770000000", "63907"),
    ("+254763000000", "63999"), ("+254766000000", "63999"),
    ("+254762000000", "63902"), ("+255712345678", "63902"),  # unknown: Safaricom
])
def test_network_codes(number: str, code: str) -> None:
    assert network_code(number) == code
    assert network_code(number, username="sandbox") == "99999"


# --- sending ----------------------------------------------------------------------------------------


def test_success_has_the_documented_shape(standin: AfricasTalkingStandIn) -> None:
    status, ctype, body = send(standin, sms())
    assert status == 201 and ctype == "application/json"
    assert list(body) == ["SMSMessageData"]
    data = body["SMSMessageData"]
    assert list(data) == ["Message", "Recipients"]
    assert data["Message"] == "Sent to 1/1 Total Cost: KES 0.8000"
    [recipient] = data["Recipients"]
    assert list(recipient) == ["statusCode", "number", "status", "cost", "messageId",
                               "messageParts"]
    assert recipient["statusCode"] == 101
    assert recipient["number"] == SAFARICOM
    assert recipient["status"] == "Success"
    assert recipient["cost"] == "KES 0.8000"
    assert MESSAGE_ID.fullmatch(recipient["messageId"])
    assert recipient["messageParts"] == 1
    [message] = standin.wait_for_messages(1)
    assert message["username"] == USERNAME and message["number"] == SAFARICOM
    assert message["message"] == "Your water bill is KES 1,250."
    assert message["from"] is None and message["parts"] == 1 and message["cost"] == "KES 0.8000"
    assert message["messageId"] == recipient["messageId"]
    [logged] = standin.requests
    assert logged["method"] == "POST" and logged["path"] == "/version1/messaging"
    assert logged["headers"]["apiKey"] == API_KEY
    assert logged["headers"]["Accept"] == "application/json"
    assert logged["form"] == sms() and logged["json"] is None


def test_several_recipients_in_order(standin: AfricasTalkingStandIn) -> None:
    numbers = [SAFARICOM, AIRTEL, "+254770111222"]
    status, _, body = send(standin, sms(to=" , ".join(numbers), **{"from": "AFRICASTKNG"},
                                        bulkSMSMode="1", enqueue="1"))
    assert status == 201
    data = body["SMSMessageData"]
    assert data["Message"] == "Sent to 3/3 Total Cost: KES 2.4000"
    assert [r["number"] for r in data["Recipients"]] == numbers
    assert [r["statusCode"] for r in data["Recipients"]] == [101, 101, 101]
    ids = [r["messageId"] for r in data["Recipients"]]
    assert len(set(ids)) == 3 and all(MESSAGE_ID.fullmatch(i) for i in ids)
    assert [m["messageId"] for m in standin.messages] == ids
    assert {m["from"] for m in standin.messages} == {"AFRICASTKNG"}


def test_invalid_numbers_are_rejected_per_recipient(standin: AfricasTalkingStandIn,
                                                    receiver: Receiver) -> None:
    bad = ["0712345678", "254712345678", "+254 712 345", "+25"]
    status, _, body = send(standin, sms(to=",".join([*bad, SAFARICOM])))
    assert status == 201
    data = body["SMSMessageData"]
    assert data["Message"] == "Sent to 1/5 Total Cost: KES 0.8000"
    for number, recipient in zip(bad, data["Recipients"], strict=False):
        assert recipient == {"statusCode": 403, "number": number, "status": "InvalidPhoneNumber",
                             "cost": "0", "messageId": "None"}
    assert data["Recipients"][-1]["statusCode"] == 101
    assert [m["number"] for m in standin.messages] == [SAFARICOM]
    standin.wait_for_dlrs(1)
    time.sleep(0.3)  # any report for the invalid numbers would be due by now
    assert [f["phoneNumber"] for f in receiver.forms()] == [SAFARICOM]


@pytest.mark.parametrize(("username", "api_key"), [
    (USERNAME, "wrong-key"), (USERNAME, None), (USERNAME, SANDBOX_KEY), ("stranger", API_KEY),
])
def test_bad_api_key_is_401_plain_text(standin: AfricasTalkingStandIn, username: str,
                                       api_key: str | None) -> None:
    status, ctype, body = send(standin, {**sms(), "username": username}, api_key=api_key)
    assert status == 401
    assert ctype.startswith("text/plain")
    assert body == "The supplied authentication is invalid"
    assert standin.messages == []


def test_any_key_is_accepted_without_credentials(receiver: Receiver) -> None:
    with AfricasTalkingStandIn(dlr_url=receiver.url) as s:
        assert send(s, sms(), api_key="anything")[0] == 201
        status, _, body = send(s, sms(), api_key=None)
        assert (status, body) == (401, "The supplied authentication is invalid")


@pytest.mark.parametrize("field", ["username", "to", "message"])
def test_missing_field_is_400_naming_it(standin: AfricasTalkingStandIn, field: str) -> None:
    fields = sms()
    del fields[field]
    status, ctype, body = send(standin, fields)
    assert status == 400 and ctype.startswith("text/plain")
    assert body == f"Request is missing required form field '{field}'"
    fields[field] = ""
    assert send(standin, fields)[0] == 400
    assert standin.messages == []


def test_to_with_only_separators_is_missing(standin: AfricasTalkingStandIn) -> None:
    status, _, body = send(standin, sms(to=" , ,"))
    assert (status, body) == (400, "Request is missing required form field 'to'")


def test_bad_flag_is_400(standin: AfricasTalkingStandIn) -> None:
    status, _, body = send(standin, sms(enqueue="yes"))
    assert (status, body) == (400, "Invalid value for 'enqueue': expected 0 or 1")


def test_body_that_is_not_form_encoded(standin: AfricasTalkingStandIn) -> None:
    status, ctype, body = send(standin, raw=json.dumps(sms()).encode(),
                               content_type="application/json")
    assert status == 415 and ctype.startswith("text/plain")
    assert body == "Unsupported Media Type: send the body as application/x-www-form-urlencoded"
    status, _, body = send(standin, raw=json.dumps(sms()).encode())  # claims to be a form
    assert (status, body) == (400, "Malformed form body")
    assert standin.messages == []


def test_without_accept_json_is_406(standin: AfricasTalkingStandIn) -> None:
    status, _, body = send(standin, sms(), accept=None)
    assert status == 406 and "Accept: application/json" in body
    assert send(standin, sms(), accept="application/json; q=1")[0] == 201


def test_unknown_path_and_method(standin: AfricasTalkingStandIn) -> None:
    assert request(standin.base_url, "GET", "/version1/messaging")[:3:2] == (
        405, "Method Not Allowed")
    assert request(standin.base_url, "POST", "/version2/nothing", data=b"")[:3:2] == (
        404, "Not Found")


def test_sender_id_not_registered_rejects_every_recipient(standin: AfricasTalkingStandIn) -> None:
    status, _, body = send(standin, sms(to=f"{SAFARICOM},{AIRTEL}", **{"from": "MAJISMART"}))
    assert status == 201
    data = body["SMSMessageData"]
    assert data["Message"] == "Sent to 0/2 Total Cost: 0"
    assert data["Recipients"] == [
        {"statusCode": 402, "number": n, "status": "InvalidSenderId", "cost": "0",
         "messageId": "None"} for n in (SAFARICOM, AIRTEL)]
    assert standin.messages == []
    standin.sender_ids.add("MAJISMART")
    status, _, body = send(standin, sms(**{"from": "MAJISMART"}))
    assert body["SMSMessageData"]["Recipients"][0]["statusCode"] == 101
    assert standin.messages[0]["from"] == "MAJISMART"


def test_blacklisted_number(standin: AfricasTalkingStandIn, receiver: Receiver) -> None:
    standin.blacklist.add(AIRTEL)
    _, _, body = send(standin, sms(to=f"{AIRTEL},{SAFARICOM}"))
    data = body["SMSMessageData"]
    assert data["Message"] == "Sent to 1/2 Total Cost: KES 0.8000"
    assert data["Recipients"][0] == {"statusCode": 406, "number": AIRTEL,
                                     "status": "UserInBlacklist", "cost": "0",
                                     "messageId": "None"}
    assert data["Recipients"][1]["status"] == "Success"
    standin.wait_for_dlrs(1)
    time.sleep(0.3)
    assert [f["phoneNumber"] for f in receiver.forms()] == [SAFARICOM]


def test_queued_http_500_sends_nothing_once(standin: AfricasTalkingStandIn,
                                            receiver: Receiver) -> None:
    standin.queue_outcome(http_status=500)
    status, ctype, body = send(standin, sms())
    assert (status, body) == (500, "Internal Server Error") and ctype.startswith("text/plain")
    assert standin.messages == []
    status, _, body = send(standin, sms())  # FIFO: used up
    assert status == 201 and body["SMSMessageData"]["Recipients"][0]["statusCode"] == 101
    receiver.wait(1)
    time.sleep(0.2)
    assert len(receiver.received) == 1


def test_refused_request_does_not_use_the_queued_outcome(standin: AfricasTalkingStandIn) -> None:
    standin.queue_outcome(http_status=503)
    assert send(standin, sms(), api_key="wrong")[0] == 401
    assert send(standin, sms())[:3:2] == (503, "Service Unavailable")


@pytest.mark.parametrize(("code", "name"), [
    (405, "InsufficientBalance"), (500, "InternalServerError"), (501, "GatewayError"),
    (502, "RejectedByGateway"),
])
def test_queued_status_code_for_every_recipient(standin: AfricasTalkingStandIn,
                                                receiver: Receiver, code: int, name: str) -> None:
    standin.queue_outcome(status_code=code)
    status, _, body = send(standin, sms(to=f"{SAFARICOM},{AIRTEL}"))
    assert status == 201
    assert body == {"SMSMessageData": {
        "Message": "Sent to 0/2 Total Cost: 0",
        "Recipients": [{"statusCode": code, "number": n, "status": name, "cost": "0",
                        "messageId": "None"} for n in (SAFARICOM, AIRTEL)],
    }}
    assert standin.messages == []
    time.sleep(0.3)
    assert receiver.received == [] and standin.dlrs_sent == []


def test_segments_and_costs_over_http(standin: AfricasTalkingStandIn) -> None:
    cases = [
        ("a" * 160, 1, "KES 0.8000"),
        ("a" * 161, 2, "KES 1.6000"),
        ("Bill {MW-0042}" + "a" * 146, 2, "KES 1.6000"),  # 160 chars, 162 septets
        ("Asante sana ñ" + "a" * 147, 1, "KES 0.8000"),  # 160 GSM-7 chars
        ("Malipo 💧" + "a" * 61, 1, "KES 0.8000"),  # 70 UTF-16 units
        ("Malipo 💧" + "a" * 62, 2, "KES 1.6000"),  # 71 units
        ("—" * 135, 3, "KES 2.4000"),
    ]
    for text, parts, cost in cases:
        _, _, body = send(standin, sms(to=f"{SAFARICOM},{AIRTEL}", message=text))
        data = body["SMSMessageData"]
        assert [r["messageParts"] for r in data["Recipients"]] == [parts, parts], text
        assert [r["cost"] for r in data["Recipients"]] == [cost, cost], text
        assert sms_segments(text)[1] == parts
    # Totals: two recipients each.
    _, _, body = send(standin, sms(to=f"{SAFARICOM},{AIRTEL},+254770000001", message="a" * 161))
    assert body["SMSMessageData"]["Message"] == "Sent to 3/3 Total Cost: KES 4.8000"
    assert standin.messages[-1]["message"] == "a" * 161
    assert standin.messages[-1]["encoding"] == "GSM-7"


# --- delivery reports ---------------------------------------------------------------------------


def test_dlr_success_has_the_documented_fields(standin: AfricasTalkingStandIn,
                                               receiver: Receiver) -> None:
    numbers = {SAFARICOM: "63902", AIRTEL: "63903", "+254770123456": "63907",
               "+254765123456": "63999", "+254110123456": "63902"}
    _, _, body = send(standin, sms(to=",".join(numbers)))
    ids = {r["number"]: r["messageId"] for r in body["SMSMessageData"]["Recipients"]}
    received = receiver.wait(5)
    assert {r["path"] for r in received} == {"/dlr"}
    assert {r["content_type"] for r in received} == {FORM}
    forms = sorted((r["form"] for r in received), key=lambda f: list(numbers).index(
        f["phoneNumber"]))
    assert forms == [{"id": ids[n], "status": "Success", "phoneNumber": n, "networkCode": code}
                     for n, code in numbers.items()]
    sent = standin.wait_for_dlrs(5)
    assert {d["status"] for d in sent} == {200}
    assert {d["url"] for d in sent} == {f"{receiver.url}/dlr"}
    assert {d["response"] for d in sent} == {"OK"}


def test_sandbox_dlr_network_code(standin: AfricasTalkingStandIn, receiver: Receiver) -> None:
    status, _, body = send(standin, {**sms(to=f"{SAFARICOM},{AIRTEL}"), "username": "sandbox"},
                           api_key=SANDBOX_KEY)
    assert status == 201
    assert {f["networkCode"] for f in (r["form"] for r in receiver.wait(2))} == {"99999"}
    assert standin.messages[0]["username"] == "sandbox"


@pytest.mark.parametrize(("dlr_status", "reason", "expected"), [
    ("Failed", "DeliveryFailure", "DeliveryFailure"),
    ("Failed", "UserInBlackList", "UserInBlackList"),
    ("Rejected", None, "DeliveryFailure"),
])
def test_dlr_failed_with_failure_reason(standin: AfricasTalkingStandIn, receiver: Receiver,
                                        dlr_status: str, reason: str | None,
                                        expected: str) -> None:
    standin.queue_outcome(dlr_status=dlr_status, failure_reason=reason)
    _, _, body = send(standin, sms())
    [recipient] = body["SMSMessageData"]["Recipients"]
    assert recipient["statusCode"] == 101  # the send status never tells delivery
    [received] = receiver.wait(1)
    assert received["form"] == {"id": recipient["messageId"], "status": dlr_status,
                                "phoneNumber": SAFARICOM, "networkCode": "63902",
                                "failureReason": expected}


def test_dlr_without_reason_for_other_statuses(standin: AfricasTalkingStandIn,
                                               receiver: Receiver) -> None:
    standin.queue_outcome(dlr_status="AbsentSubscriber")
    send(standin, sms())
    [received] = receiver.wait(1)
    assert received["form"]["status"] == "AbsentSubscriber"
    assert "failureReason" not in received["form"]


def test_duplicate_dlrs(standin: AfricasTalkingStandIn, receiver: Receiver) -> None:
    standin.queue_outcome(dlr_duplicates=3)
    _, _, body = send(standin, sms())
    message_id = body["SMSMessageData"]["Recipients"][0]["messageId"]
    received = receiver.wait(3)
    assert [r["form"]["id"] for r in received] == [message_id] * 3
    assert received[0]["form"] == received[1]["form"] == received[2]["form"]
    assert len(standin.wait_for_dlrs(3)) == 3


def test_lost_dlr(standin: AfricasTalkingStandIn, receiver: Receiver) -> None:
    standin.queue_outcome(send_dlr=False)
    _, _, body = send(standin, sms())
    assert body["SMSMessageData"]["Recipients"][0]["statusCode"] == 101
    assert len(standin.messages) == 1
    with pytest.raises(TimeoutError):
        standin.wait_for_dlrs(1, timeout=0.5)
    assert receiver.received == []
    _, _, body = send(standin, sms())  # the next one is delivered again
    [received] = receiver.wait(1)
    assert received["form"]["id"] == body["SMSMessageData"]["Recipients"][0]["messageId"]


def test_dlr_delay_per_outcome(standin: AfricasTalkingStandIn, receiver: Receiver) -> None:
    standin.queue_outcome(dlr_delay=1.0)
    started = time.monotonic()
    send(standin, sms())
    time.sleep(0.3)
    assert receiver.received == []
    receiver.wait(1)
    assert time.monotonic() - started >= 1.0


def test_dlr_url_per_username_and_our_answers(standin: AfricasTalkingStandIn,
                                              receiver: Receiver) -> None:
    standin.register_dlr_url(USERNAME, f"{receiver.url}/fail/dlr?key=secret")
    send(standin, sms())
    [sent] = standin.wait_for_dlrs(1)
    assert sent["url"] == f"{receiver.url}/fail/dlr?key=secret"
    assert sent["status"] == 500
    assert receiver.received[0]["path"] == "/fail/dlr?key=secret"
    # Nothing listening: the error is recorded instead of a status.
    standin.register_dlr_url(USERNAME, f"http://127.0.0.1:{free_port()}/dlr")
    send(standin, sms())
    sent = standin.wait_for_dlrs(2)[1]
    assert isinstance(sent["status"], str) and sent["status"].startswith("error: ")
    with pytest.raises(ValueError):
        standin.register_dlr_url(USERNAME, "ftp://example.test/dlr")


def test_no_dlr_url_means_no_report(receiver: Receiver) -> None:
    with AfricasTalkingStandIn(dlr_delay=0.01) as s:
        assert send(s, sms())[0] == 201
        time.sleep(0.3)
        assert s.dlrs_sent == [] and len(s.messages) == 1


def test_stop_drops_pending_dlrs(receiver: Receiver) -> None:
    s = AfricasTalkingStandIn(dlr_url=receiver.url, dlr_delay=0.5).start()
    send(s, sms())
    s.stop()
    time.sleep(0.8)
    assert receiver.received == [] and s.dlrs_sent == []


# --- the JSON bulk endpoint ---------------------------------------------------------------------


def test_bulk_endpoint(standin: AfricasTalkingStandIn, receiver: Receiver) -> None:
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               "apiKey": API_KEY}
    payload = {"username": USERNAME, "message": "a" * 161, "senderId": "AFRICASTKNG",
               "phoneNumbers": [SAFARICOM, "0712"], "enqueue": True}
    status, _, body = request(standin.base_url, "POST", "/version1/messaging/bulk",
                              data=json.dumps(payload).encode(), headers=headers)
    assert status == 201
    data = body["SMSMessageData"]
    assert data["Message"] == "Sent to 1/2 Total Cost: KES 1.6000"
    assert data["Recipients"][0]["messageParts"] == 2
    assert data["Recipients"][1] == {"statusCode": 403, "number": "0712",
                                     "status": "InvalidPhoneNumber", "cost": "0",
                                     "messageId": "None"}
    assert standin.messages[0]["endpoint"] == "bulk"
    assert standin.requests[0]["json"] == payload
    assert receiver.wait(1)[0]["form"]["phoneNumber"] == SAFARICOM

    status, _, text = request(standin.base_url, "POST", "/version1/messaging/bulk",
                              data=json.dumps({**payload, "phoneNumbers": []}).encode(),
                              headers=headers)
    assert (status, text) == (400, "Request is missing required field 'phoneNumbers'")
    status, _, text = request(standin.base_url, "POST", "/version1/messaging/bulk",
                              data=urllib.parse.urlencode(sms()).encode(),
                              headers={**headers, "Content-Type": FORM})
    assert (status, text) == (415, "Unsupported Media Type: send the body as application/json")
    status, _, text = request(standin.base_url, "POST", "/version1/messaging/bulk",
                              data=json.dumps(payload).encode(),
                              headers={**headers, "apiKey": "nope"})
    assert (status, text) == (401, "The supplied authentication is invalid")


# --- test control ---------------------------------------------------------------------------------


def test_queue_outcome_rejects_nonsense(standin: AfricasTalkingStandIn) -> None:
    for kwargs in ({"http_status": 200}, {"status_code": 999}, {"dlr_status": "Delivered"},
                   {"dlr_status": "Failed", "failure_reason": "Typo"},
                   {"failure_reason": "DeliveryFailure"},  # with Success
                   {"dlr_duplicates": 0}, {"dlr_delay": -1}, {"send_dlr": "no"},
                   {"http_status": 500, "status_code": 405}):
        with pytest.raises(ValueError):
            standin.queue_outcome(**kwargs)
    assert send(standin, sms())[0] == 201  # nothing was queued


def test_wait_for_messages_times_out(standin: AfricasTalkingStandIn) -> None:
    with pytest.raises(TimeoutError, match="expected 1 accepted messages"):
        standin.wait_for_messages(1, timeout=0.2)


def test_http_control_endpoints(standin: AfricasTalkingStandIn, receiver: Receiver) -> None:
    assert control(standin, "POST", "/__standin__/outcome",
                   {"dlr_status": "Failed", "failure_reason": "UserInBlackList",
                    "dlr_duplicates": 2}) == (200, {"queued": 1})
    assert control(standin, "POST", "/__standin__/outcome", {"status_code": 405}) == (
        200, {"queued": 2})
    assert control(standin, "POST", "/__standin__/outcome", {"colour": "red"})[0] == 400
    assert control(standin, "POST", "/__standin__/outcome", {"status_code": 1})[0] == 400
    status, answer = control(standin, "POST", "/__standin__/dlr-url",
                             {"username": USERNAME, "url": f"{receiver.url}/tenant/alpha"})
    assert status == 200 and answer["dlr_urls"] == {USERNAME: f"{receiver.url}/tenant/alpha"}
    assert control(standin, "POST", "/__standin__/dlr-url", {"username": USERNAME})[0] == 400
    assert control(standin, "POST", "/__standin__/blacklist", {"numbers": [AIRTEL]}) == (
        200, {"blacklist": [AIRTEL]})

    _, _, first = send(standin, sms())
    _, _, second = send(standin, sms(to=AIRTEL))
    assert second["SMSMessageData"]["Recipients"][0]["statusCode"] == 405  # queued second
    _, _, third = send(standin, sms(to=AIRTEL))
    assert third["SMSMessageData"]["Recipients"][0]["status"] == "UserInBlacklist"
    received = receiver.wait(2)
    assert [r["path"] for r in received] == ["/tenant/alpha"] * 2
    assert received[0]["form"]["failureReason"] == "UserInBlackList"
    standin.wait_for_dlrs(2)

    status, messages = control(standin, "GET", "/__standin__/messages")
    assert status == 200 and [m["messageId"] for m in messages] == [
        first["SMSMessageData"]["Recipients"][0]["messageId"]]
    status, dlrs = control(standin, "GET", "/__standin__/dlrs")
    assert status == 200 and [d["status"] for d in dlrs] == [200, 200]
    assert dlrs[0]["payload"]["status"] == "Failed"
    status, log = control(standin, "GET", "/__standin__/requests")
    sends = [r for r in log if r["path"] == "/version1/messaging"]
    assert status == 200 and len(sends) == 3 and sends[0]["form"]["username"] == USERNAME
    assert control(standin, "GET", "/__standin__/nothing")[0] == 404

    status, about = control(standin, "GET", "/")
    assert status == 200 and "stand-in" in about["service"]
    assert about["base_url"] == standin.base_url
    assert about["sender_ids"] == ["AFRICASTKNG"] and about["messages_accepted"] == 1
    assert about["queued_outcomes"] == 0 and about["dlrs_sent"] == 2


def test_command_line_serves_until_terminated() -> None:
    port = free_port()
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "devkit.standins.africastalking", "--host", "127.0.0.1",
         "--port", str(port), "--credential", f"{USERNAME}={API_KEY}", "--sender-id", "MAJI",
         "--dlr-url", "http://127.0.0.1:9/dlr", "--dlr-delay", "2", "--quiet"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, _, about = request(base, "GET", "/")
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "stand-in did not start"
                time.sleep(0.1)
        assert status == 200 and about["base_url"] == base
        assert about["sender_ids"] == ["MAJI"] and about["dlr_delay"] == 2.0
        assert about["dlr_url"] == "http://127.0.0.1:9/dlr"
        status, _, body = request(base, "POST", "/version1/messaging",
                                  data=urllib.parse.urlencode(sms()).encode(),
                                  headers={"Content-Type": FORM, "Accept": "application/json",
                                           "apiKey": "wrong"})
        assert (status, body) == (401, "The supplied authentication is invalid")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert base in out.decode()
