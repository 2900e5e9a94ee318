"""The Daraja stand-in, over real HTTP: documented shapes, errors and callback behaviour.

Each test starts a stand-in on a free port and a tiny receiver playing our callback URLs.
No database: nothing here asks for a `db` fixture.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devkit.standins.daraja import SANDBOX_PASSKEY, DarajaStandIn

NAIROBI = timezone(timedelta(hours=3))
SHORTCODE = "174379"
C2B_SHORTCODE = "600984"
PHONE = "254708374149"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --- a stand-in for our own callback endpoints -------------------------------------------------


class Receiver:
    """Records every POST; answers validation paths with an accept (or a reject on /reject)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.received.append({"path": self.path, "headers": dict(self.headers.items()),
                                              "body": json.loads(raw)})
                if self.path.startswith("/validate"):
                    answer = {"ResultCode": "0", "ResultDesc": "Accepted"}
                elif self.path.startswith("/reject"):
                    answer = {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}
                else:
                    answer = {"ResultCode": 0, "ResultDesc": "Accepted"}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def bodies(self, path_prefix: str = "") -> list[Any]:
        with self._lock:
            return [r["body"] for r in self.received if r["path"].startswith(path_prefix)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def standin() -> Iterator[DarajaStandIn]:
    s = DarajaStandIn(callback_delay=0.05).start()
    yield s
    s.stop()


# --- a plain HTTP client --------------------------------------------------------------------------


def call(base: str, method: str, path: str, body: Any = None, *, token: str | None = None,
         basic: tuple[str, str] | None = None, raw: bytes | None = None,
         content_type: str | None = "application/json") -> tuple[int, Any]:
    headers: dict[str, str] = {}
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None and content_type:
        headers["Content-Type"] = content_type
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if basic is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with OPENER.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def get_token(standin: DarajaStandIn) -> str:
    status, body = call(standin.base_url, "GET", "/oauth/v1/generate?grant_type=client_credentials",
                        basic=("consumer-key", "consumer-secret"))
    assert status == 200, body
    return body["access_token"]


@pytest.fixture
def token(standin: DarajaStandIn) -> str:
    return get_token(standin)


def nairobi_stamp() -> str:
    return datetime.now(NAIROBI).strftime("%Y%m%d%H%M%S")


def stk_body(callback_url: str, **overrides: Any) -> dict[str, Any]:
    stamp = nairobi_stamp()
    body = {
        "BusinessShortCode": SHORTCODE,
        "Password": base64.b64encode(f"{SHORTCODE}{SANDBOX_PASSKEY}{stamp}".encode()).decode(),
        "Timestamp": stamp,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": "10",
        "PartyA": PHONE,
        "PartyB": SHORTCODE,
        "PhoneNumber": PHONE,
        "CallBackURL": callback_url,
        "AccountReference": "MW-0042",
        "TransactionDesc": "Water bill",
    }
    body.update(overrides)
    return body


def query_body(checkout_id: str) -> dict[str, Any]:
    body = stk_body("http://unused.test/")
    return {k: body[k] for k in ("BusinessShortCode", "Password", "Timestamp")} | {
        "CheckoutRequestID": checkout_id}


def push(standin: DarajaStandIn, token: str, callback_url: str, **overrides: Any) -> dict[str, Any]:
    status, body = call(standin.base_url, "POST", "/mpesa/stkpush/v1/processrequest",
                        stk_body(callback_url, **overrides), token=token)
    assert status == 200, body
    return body


def items_by_name(callback: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["Name"]: item for item in callback["CallbackMetadata"]["Item"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- OAuth ----------------------------------------------------------------------------------------


def test_oauth_issues_a_token_with_string_expiry_and_counts_them(standin: DarajaStandIn) -> None:
    status, body = call(standin.base_url, "GET", "/oauth/v1/generate?grant_type=client_credentials",
                        basic=("my-key", "my-secret"))
    assert status == 200
    assert body["expires_in"] == "3599"
    assert re.fullmatch(r"[A-Za-z0-9]{28}", body["access_token"])
    assert standin.tokens_issued == 1
    assert standin.credentials_seen == [("my-key", "my-secret")]
    second = get_token(standin)
    assert second != body["access_token"]
    assert standin.tokens_issued == 2


@pytest.mark.parametrize("query", ["?grant_type=password", "", "?grant_type=client_credentials%20"])
def test_oauth_rejects_other_grant_types(standin: DarajaStandIn, query: str) -> None:
    status, body = call(standin.base_url, "GET", f"/oauth/v1/generate{query}", basic=("k", "s"))
    assert (status, body["errorCode"], body["errorMessage"]) == (
        400, "400.008.02", "Invalid grant type passed")
    assert body["requestId"]
    assert standin.tokens_issued == 0


def test_oauth_without_basic_auth(standin: DarajaStandIn) -> None:
    status, body = call(standin.base_url, "GET", "/oauth/v1/generate?grant_type=client_credentials")
    assert status == 400
    assert body["errorCode"] == "400.008.01"
    assert standin.tokens_issued == 0


def test_oauth_checks_credentials_when_configured() -> None:
    with DarajaStandIn(credentials={"good-key": "good-secret"}) as s:
        url = "/oauth/v1/generate?grant_type=client_credentials"
        status, body = call(s.base_url, "GET", url, basic=("good-key", "wrong"))
        assert (status, body["errorCode"], body["errorMessage"]) == (
            401, "400.008.01", "Invalid Authentication passed")
        status, body = call(s.base_url, "GET", url, basic=("good-key", "good-secret"))
        assert status == 200 and body["access_token"]
        assert s.tokens_issued == 1


def test_api_calls_need_a_live_bearer_token(standin: DarajaStandIn, receiver: Receiver) -> None:
    path = "/mpesa/stkpush/v1/processrequest"
    for token in (None, "made-up-token"):
        status, body = call(standin.base_url, "POST", path, stk_body(receiver.url), token=token)
        assert (status, body["errorCode"], body["errorMessage"]) == (
            401, "404.001.03", "Invalid Access Token")
    token = get_token(standin)
    assert call(standin.base_url, "POST", path, stk_body(receiver.url), token=token)[0] == 200
    standin.expire_tokens()
    status, body = call(standin.base_url, "POST", path, stk_body(receiver.url), token=token)
    assert (status, body["errorCode"]) == (401, "404.001.03")


def test_api_endpoints_are_post_only_and_json(standin: DarajaStandIn, token: str) -> None:
    status, body = call(standin.base_url, "GET", "/mpesa/stkpush/v1/processrequest", token=token)
    assert (status, body["errorCode"]) == (405, "405.001")
    status, body = call(standin.base_url, "POST", "/mpesa/stkpush/v1/processrequest",
                        raw=b"not json", token=token)
    assert (status, body["errorCode"]) == (400, "400.002.02")
    assert body["errorMessage"].startswith("Bad Request - Invalid")
    # Documented: without Content-Type application/json Daraja blames the shortcode.
    status, body = call(standin.base_url, "POST", "/mpesa/stkpush/v1/processrequest",
                        stk_body("http://x.test/cb"), token=token, content_type="text/plain")
    assert (status, body["errorMessage"]) == (400, "Bad Request - Invalid BusinessShortCode")
    status, body = call(standin.base_url, "POST", "/mpesa/nothing/v1/here", {}, token=token)
    assert (status, body["errorCode"]) == (404, "404.001.01")


# --- STK push -------------------------------------------------------------------------------------


def test_stk_push_success_and_its_callback(standin: DarajaStandIn, token: str,
                                           receiver: Receiver) -> None:
    answer = push(standin, token, f"{receiver.url}/stk/callback", Amount=10)
    assert answer["ResponseCode"] == "0"
    assert answer["ResponseDescription"] == "Success. Request accepted for processing"
    assert answer["CustomerMessage"] == "Success. Request accepted for processing"
    assert re.fullmatch(r"ws_CO_[0-9]+", answer["CheckoutRequestID"])
    assert answer["MerchantRequestID"]

    sent = standin.wait_for_callbacks(1)
    assert sent[0]["status"] == 200 and sent[0]["url"] == f"{receiver.url}/stk/callback"
    [payload] = receiver.bodies("/stk/callback")
    assert payload == sent[0]["payload"]
    callback = payload["Body"]["stkCallback"]
    assert type(callback["ResultCode"]) is int and callback["ResultCode"] == 0
    assert callback["ResultDesc"] == "The service request is processed successfully."
    assert callback["CheckoutRequestID"] == answer["CheckoutRequestID"]
    assert callback["MerchantRequestID"] == answer["MerchantRequestID"]
    items = items_by_name(callback)
    assert items["Amount"]["Value"] == 10 and isinstance(items["Amount"]["Value"], int | float)
    assert re.fullmatch(r"[A-Z0-9]{10}", items["MpesaReceiptNumber"]["Value"])
    assert items["Balance"] == {"Name": "Balance"}
    assert items["PhoneNumber"]["Value"] == 254708374149
    when = items["TransactionDate"]["Value"]
    assert type(when) is int
    paid_at = datetime.strptime(str(when), "%Y%m%d%H%M%S").replace(tzinfo=NAIROBI)
    assert abs(datetime.now(NAIROBI) - paid_at) < timedelta(minutes=1)
    assert "AccountReference" not in json.dumps(payload)  # Daraja never echoes it

    # Receipts are unique.
    push(standin, token, f"{receiver.url}/stk/callback")
    standin.wait_for_callbacks(2)
    receipts = {items_by_name(b["Body"]["stkCallback"])["MpesaReceiptNumber"]["Value"]
                for b in receiver.bodies("/stk/callback")}
    assert len(receipts) == 2


def test_stk_push_wrong_password(standin: DarajaStandIn, token: str, receiver: Receiver) -> None:
    body = stk_body(receiver.url)
    body["Password"] = base64.b64encode(f"{SHORTCODE}not-the-passkey{body['Timestamp']}".encode()).decode()
    status, answer = call(standin.base_url, "POST", "/mpesa/stkpush/v1/processrequest", body,
                          token=token)
    assert (status, answer["errorCode"], answer["errorMessage"]) == (
        500, "500.001.1001", "Wrong credentials")
    assert standin.stk_transactions == {}
    # A shortcode the stand-in has no passkey for takes any Password.
    status, answer = call(standin.base_url, "POST", "/mpesa/stkpush/v1/processrequest",
                          stk_body(receiver.url, BusinessShortCode="600111", PartyB="600111",
                                   Password="anything"), token=token)
    assert status == 200 and answer["ResponseCode"] == "0"


@pytest.mark.parametrize(("field", "value"), [
    ("PhoneNumber", "0708374149"),
    ("PhoneNumber", "+254708374149"),
    ("PhoneNumber", "254208374149"),
    ("PartyA", "07083741"),
    ("AccountReference", "ACCOUNT-0001X"),  # 13 characters
    ("AccountReference", ""),
    ("TransactionDesc", "Water bill Jan"),  # 14 characters
    ("Amount", "10.50"),
    ("Amount", 0),
    ("Amount", 250_001),
    ("Timestamp", "2024-06-28 09:24"),
    ("Timestamp", "20241328092408"),
    ("TransactionType", "PayBill"),
    ("CallBackURL", "ftp://example.test/cb"),
    ("CallBackURL", " https://example.test/cb"),
    ("BusinessShortCode", "17437A"),
])
def test_stk_push_rejects_invalid_fields(standin: DarajaStandIn, token: str, field: str,
                                         value: Any) -> None:
    status, body = call(standin.base_url, "POST", "/mpesa/stkpush/v1/processrequest",
                        stk_body("https://example.test/cb", **{field: value}), token=token)
    assert (status, body["errorCode"], body["errorMessage"]) == (
        400, "400.002.02", f"Bad Request - Invalid {field}")
    assert standin.stk_transactions == {}


def test_stk_push_accepts_documented_number_forms(standin: DarajaStandIn, token: str,
                                                 receiver: Receiver) -> None:
    answer = push(standin, token, receiver.url, BusinessShortCode=174379, Amount=250_000,
                  PhoneNumber=254111222333, PartyA=254111222333, AccountReference="ACCOUNT00012")
    assert answer["ResponseCode"] == "0"


def test_queued_failure_has_no_metadata(standin: DarajaStandIn, token: str,
                                        receiver: Receiver) -> None:
    standin.queue_stk_outcome(1032)
    push(standin, token, receiver.url)
    standin.wait_for_callbacks(1)
    [payload] = receiver.bodies()
    callback = payload["Body"]["stkCallback"]
    assert callback["ResultCode"] == 1032
    assert callback["ResultDesc"] == "Request cancelled by user"
    assert "CallbackMetadata" not in callback
    # The queue is FIFO and empties: the next push succeeds.
    push(standin, token, receiver.url)
    standin.wait_for_callbacks(2)
    assert receiver.bodies()[1]["Body"]["stkCallback"]["ResultCode"] == 0


def test_duplicates_post_the_same_callback_several_times(standin: DarajaStandIn, token: str,
                                                         receiver: Receiver) -> None:
    standin.queue_stk_outcome(0, duplicates=3)
    push(standin, token, receiver.url)
    sent = standin.wait_for_callbacks(3)
    bodies = receiver.bodies()
    assert len(bodies) == 3 and bodies[0] == bodies[1] == bodies[2]
    assert [c["status"] for c in sent] == [200, 200, 200]
    time.sleep(0.2)
    assert len(receiver.bodies()) == 3


def test_query_pending_then_result(standin: DarajaStandIn, token: str, receiver: Receiver) -> None:
    standin.queue_stk_outcome(1037, delay=0.8)
    checkout_id = push(standin, token, receiver.url)["CheckoutRequestID"]
    status, body = call(standin.base_url, "POST", "/mpesa/stkpushquery/v1/query",
                        query_body(checkout_id), token=token)
    assert (status, body) == (500, {"requestId": checkout_id, "errorCode": "500.001.1001",
                                    "errorMessage": "The transaction is being processed"})
    standin.wait_for_callbacks(1)
    status, body = call(standin.base_url, "POST", "/mpesa/stkpushquery/v1/query",
                        query_body(checkout_id), token=token)
    assert status == 200
    assert body["ResultCode"] == "1037" and body["ResponseCode"] == "0"
    assert body["ResultDesc"] == "DS timeout user cannot be reached"
    assert body["CheckoutRequestID"] == checkout_id
    assert all(isinstance(v, str) for v in body.values())


def test_lost_callback_is_revealed_by_query(standin: DarajaStandIn, token: str,
                                            receiver: Receiver) -> None:
    standin.queue_stk_outcome(0, delay=0.1, send_callback=False)
    checkout_id = push(standin, token, receiver.url)["CheckoutRequestID"]
    time.sleep(0.4)
    assert receiver.bodies() == [] and standin.callbacks_sent == []
    status, body = call(standin.base_url, "POST", "/mpesa/stkpushquery/v1/query",
                        query_body(checkout_id), token=token)
    assert status == 200 and body["ResultCode"] == "0"
    assert body["ResultDesc"] == "The service request is processed successfully."


def test_query_unknown_checkout_id(standin: DarajaStandIn, token: str) -> None:
    status, body = call(standin.base_url, "POST", "/mpesa/stkpushquery/v1/query",
                        query_body("ws_CO_000000000000000000"), token=token)
    assert (status, body["errorCode"], body["errorMessage"]) == (
        400, "400.002.02", "Bad Request - Invalid CheckoutRequestID")


def test_localhost_callback_reaches_loopback_with_host_header(standin: DarajaStandIn, token: str,
                                                              receiver: Receiver) -> None:
    host = f"alpha.majismart.localhost:{receiver.port}"
    push(standin, token, f"http://{host}/payments/mpesa-hook/stk/")
    sent = standin.wait_for_callbacks(1)
    assert sent[0]["status"] == 200
    [request] = receiver.received
    assert request["path"] == "/payments/mpesa-hook/stk/"
    assert request["headers"]["Host"] == host
    assert request["headers"]["Content-Type"] == "application/json"


def test_unreachable_callback_is_recorded_not_fatal(standin: DarajaStandIn, token: str,
                                                    receiver: Receiver) -> None:
    push(standin, token, f"http://127.0.0.1:{free_port()}/gone")
    [sent] = standin.wait_for_callbacks(1)
    assert isinstance(sent["status"], str) and sent["status"].startswith("error:")
    # The server still serves.
    push(standin, token, receiver.url)
    assert standin.wait_for_callbacks(2)[1]["status"] == 200


# --- C2B ------------------------------------------------------------------------------------------


def register(standin: DarajaStandIn, token: str, receiver_url: str, *, version: str = "v1",
             validation: str = "/validate", response_type: str = "Completed") -> tuple[int, Any]:
    return call(standin.base_url, "POST", f"/mpesa/c2b/{version}/registerurl", {
        "ShortCode": C2B_SHORTCODE, "ResponseType": response_type,
        "ConfirmationURL": f"{receiver_url}/confirm", "ValidationURL": f"{receiver_url}{validation}",
    }, token=token)


def test_register_urls(standin: DarajaStandIn, token: str, receiver: Receiver) -> None:
    status, body = register(standin, token, receiver.url, version="v2")
    assert status == 200
    assert body["ResponseCode"] == "0" and body["ResponseDescription"] == "Success"
    assert body["OriginatorCoversationID"]  # Safaricom's spelling
    assert standin.registered[C2B_SHORTCODE]["ConfirmationURL"] == f"{receiver.url}/confirm"
    assert standin.registered[C2B_SHORTCODE]["ValidationURL"] == f"{receiver.url}/validate"
    assert standin.registered[C2B_SHORTCODE]["ResponseType"] == "Completed"


@pytest.mark.parametrize(("field", "url"), [
    ("ConfirmationURL", "https://water.test/M-PESA/confirm"),
    ("ConfirmationURL", "https://water.test/hooks/MpEsA"),
    ("ConfirmationURL", "https://safaricom-hooks.water.test/c"),
    ("ConfirmationURL", "https://water.test/c?token=abc&Query=1"),
    ("ValidationURL", "https://water.test/run.exe"),
    ("ValidationURL", "https://water.test/SQL/validate"),
    ("ValidationURL", "https://water.test/cmd"),
    ("ValidationURL", "not a url"),
])
def test_register_rejects_banned_words_and_bad_urls(standin: DarajaStandIn, token: str,
                                                    field: str, url: str) -> None:
    body = {"ShortCode": C2B_SHORTCODE, "ResponseType": "Completed",
            "ConfirmationURL": "https://water.test/c2b/confirm",
            "ValidationURL": "https://water.test/c2b/validate", field: url}
    status, answer = call(standin.base_url, "POST", "/mpesa/c2b/v1/registerurl", body, token=token)
    assert (status, answer["errorCode"], answer["errorMessage"]) == (
        400, "400.002.02", f"Bad Request - Invalid {field}")
    assert standin.registered == {}


def test_register_response_type_is_exact(standin: DarajaStandIn, token: str,
                                         receiver: Receiver) -> None:
    status, body = register(standin, token, receiver.url, response_type="completed")
    assert (status, body["errorMessage"]) == (400, "Bad Request - Invalid ResponseType")


def test_simulate_v1_validation_then_confirmation_with_hashed_msisdn(
        standin: DarajaStandIn, token: str, receiver: Receiver) -> None:
    assert register(standin, token, receiver.url)[0] == 200
    status, body = call(standin.base_url, "POST", "/mpesa/c2b/v1/simulate", {
        "ShortCode": int(C2B_SHORTCODE), "CommandID": "CustomerPayBillOnline", "Amount": 250,
        "Msisdn": 254708374149, "BillRefNumber": "MW-0042"}, token=token)
    assert status == 200
    assert body["ResponseCode"] == "0"
    assert body["ResponseDescription"] == "Accept the service request successfully."
    assert body["OriginatorCoversationID"]

    validation_sent, confirmation_sent = standin.wait_for_callbacks(2)
    assert validation_sent["url"] == f"{receiver.url}/validate"
    assert validation_sent["response"] == {"ResultCode": "0", "ResultDesc": "Accepted"}
    assert confirmation_sent["url"] == f"{receiver.url}/confirm"
    [validation] = receiver.bodies("/validate")
    [confirmation] = receiver.bodies("/confirm")
    sha = hashlib.sha256(b"254708374149").hexdigest()
    assert validation["MSISDN"] == confirmation["MSISDN"] == sha
    assert validation["OrgAccountBalance"] == ""
    assert confirmation["OrgAccountBalance"] == "250.00"
    assert validation["TransID"] == confirmation["TransID"]
    assert re.fullmatch(r"[A-Z0-9]{10}", confirmation["TransID"])
    assert confirmation["TransactionType"] == "Pay Bill"
    assert confirmation["TransAmount"] == "250.00"
    assert confirmation["BusinessShortCode"] == C2B_SHORTCODE
    assert confirmation["BillRefNumber"] == "MW-0042"
    assert confirmation["FirstName"] == "JOHN"
    assert re.fullmatch(r"[0-9]{14}", confirmation["TransTime"])
    assert set(confirmation) == {
        "TransactionType", "TransID", "TransTime", "TransAmount", "BusinessShortCode",
        "BillRefNumber", "InvoiceNumber", "OrgAccountBalance", "ThirdPartyTransID", "MSISDN",
        "FirstName", "MiddleName", "LastName"}
    assert all(isinstance(v, str) for v in confirmation.values())


def test_simulate_v2_masks_msisdn_and_duplicates_confirmations(
        standin: DarajaStandIn, token: str, receiver: Receiver) -> None:
    assert register(standin, token, receiver.url, version="v2")[0] == 200
    answer = standin.simulate_c2b(shortcode=C2B_SHORTCODE, amount=100, bill_ref="GP-7",
                                  version="v2", duplicates=2, trans_id="TKX1234ABC")
    assert answer["ResponseCode"] == "0"
    sent = standin.wait_for_callbacks(3)
    assert [c["url"].rsplit("/", 1)[1] for c in sent] == ["validate", "confirm", "confirm"]
    confirmations = receiver.bodies("/confirm")
    assert len(confirmations) == 2 and confirmations[0] == confirmations[1]
    assert confirmations[0]["MSISDN"] == "2547 ***** 149"
    assert confirmations[0]["TransID"] == "TKX1234ABC"
    assert receiver.bodies("/validate")[0]["MSISDN"] == "2547 ***** 149"


def test_simulate_over_http_takes_duplicates_field(standin: DarajaStandIn, token: str,
                                                   receiver: Receiver) -> None:
    assert register(standin, token, receiver.url)[0] == 200
    status, _ = call(standin.base_url, "POST", "/mpesa/c2b/v2/simulate", {
        "ShortCode": C2B_SHORTCODE, "CommandID": "CustomerBuyGoodsOnline", "Amount": "5",
        "Msisdn": "254708374149", "BillRefNumber": "", "_duplicates": 2}, token=token)
    assert status == 200
    standin.wait_for_callbacks(3)
    confirmations = receiver.bodies("/confirm")
    assert len(confirmations) == 2
    assert confirmations[0]["TransactionType"] == "Buy Goods"


def test_simulate_unregistered_shortcode(standin: DarajaStandIn, token: str) -> None:
    status, body = call(standin.base_url, "POST", "/mpesa/c2b/v1/simulate", {
        "ShortCode": "600111", "CommandID": "CustomerPayBillOnline", "Amount": 1,
        "Msisdn": PHONE, "BillRefNumber": "X"}, token=token)
    assert (status, body["errorCode"]) == (500, "500.003.1001")
    assert standin.simulate_c2b(shortcode="600111", amount=1, bill_ref="X")["errorCode"] == "500.003.1001"
    time.sleep(0.2)
    assert standin.callbacks_sent == []


def test_rejected_validation_sends_no_confirmation(standin: DarajaStandIn, token: str,
                                                   receiver: Receiver) -> None:
    assert register(standin, token, receiver.url, validation="/reject")[0] == 200
    standin.simulate_c2b(shortcode=C2B_SHORTCODE, amount=50, bill_ref="NO-SUCH")
    [sent] = standin.wait_for_callbacks(1)
    assert sent["response"]["ResultCode"] == "C2B00012"
    time.sleep(0.3)
    assert receiver.bodies("/confirm") == [] and len(standin.callbacks_sent) == 1


@pytest.mark.parametrize(("response_type", "confirmed"), [("Completed", 1), ("Cancelled", 0)])
def test_unreachable_validation_falls_back_to_response_type(
        standin: DarajaStandIn, token: str, receiver: Receiver, response_type: str,
        confirmed: int) -> None:
    status, _ = call(standin.base_url, "POST", "/mpesa/c2b/v1/registerurl", {
        "ShortCode": C2B_SHORTCODE, "ResponseType": response_type,
        "ConfirmationURL": f"{receiver.url}/confirm",
        "ValidationURL": f"http://127.0.0.1:{free_port()}/validate"}, token=token)
    assert status == 200
    standin.simulate_c2b(shortcode=C2B_SHORTCODE, amount=50, bill_ref="MW-1")
    sent = standin.wait_for_callbacks(1 + confirmed)
    assert str(sent[0]["status"]).startswith("error:")
    time.sleep(0.3)
    assert len(receiver.bodies("/confirm")) == confirmed


# --- test control over HTTP, and the command line ------------------------------------------------


def test_http_control_endpoints(standin: DarajaStandIn, token: str, receiver: Receiver) -> None:
    status, body = call(standin.base_url, "POST", "/__standin__/stk-outcome",
                        {"result_code": 2001, "delay": 0.05, "duplicates": 1, "send_callback": True})
    assert (status, body) == (200, {"queued": 1})
    status, body = call(standin.base_url, "POST", "/__standin__/stk-outcome", {"duplicates": 0})
    assert status == 400
    push(standin, token, receiver.url)
    standin.wait_for_callbacks(1)
    callback = receiver.bodies()[0]["Body"]["stkCallback"]
    assert callback["ResultCode"] == 2001
    assert callback["ResultDesc"] == "The initiator information is invalid."

    status, log = call(standin.base_url, "GET", "/__standin__/requests")
    assert status == 200
    pushes = [r for r in log if r["path"] == "/mpesa/stkpush/v1/processrequest"]
    assert len(pushes) == 1 and pushes[0]["method"] == "POST"
    assert pushes[0]["json"]["AccountReference"] == "MW-0042"
    assert pushes[0]["headers"]["Authorization"] == f"Bearer {token}"
    assert len(standin.requests) >= len(log)
    status, sent = call(standin.base_url, "GET", "/__standin__/callbacks")
    assert status == 200 and sent[0]["payload"]["Body"]["stkCallback"]["ResultCode"] == 2001
    status, about = call(standin.base_url, "GET", "/")
    assert status == 200 and "stand-in" in about["service"] and about["tokens_issued"] == 1


def test_command_line_serves_until_terminated() -> None:
    port = free_port()
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "devkit.standins.daraja", "--host", "127.0.0.1",
         "--port", str(port), "--quiet"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, about = call(f"http://127.0.0.1:{port}", "GET", "/")
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "stand-in did not start"
                time.sleep(0.1)
        assert status == 200 and about["base_url"] == f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}" in out.decode()
