"""The Africa's Talking stand-in's USSD simulator and incoming-SMS injection, over real HTTP:
what it posts (AT's form fields, the answers accumulated in `text`, one session id, a retried SMS
with the same id), its HTTP controls and page; and the bodies it posted, replayed through our
endpoints, answered as a phone expects."""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client as Http

from devkit.standins.africastalking import AfricasTalkingStandIn
from selfservice.models import InboundSms
from tests.billing_helpers import billed_twice
from tests.notifications_helpers import committed, sms_ready
from tests.selfservice.helpers import FORM, PHONE


@dataclass
class App:
    """Stands at the provider's address: keeps each form posted, answers the next scripted reply."""

    port: int
    replies: list[str] = field(default_factory=list)
    received: list[tuple[str, str, bytes]] = field(default_factory=list)  # (path, host, body)

    def forms(self) -> list[dict[str, str]]:
        return [dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)) for _path, _host, body in self.received]


@pytest.fixture
def app() -> Iterator[App]:
    holder: dict[str, App] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state = holder["app"]
            state.received.append((self.path, self.headers.get("Host", ""), body))
            answer = (state.replies.pop(0) if state.replies else "OK").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["app"] = App(port=server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield holder["app"]
    server.shutdown()
    server.server_close()


@pytest.fixture
def standin() -> Iterator[AfricasTalkingStandIn]:
    with AfricasTalkingStandIn("127.0.0.1", 0) as running:
        yield running


def control(standin: AfricasTalkingStandIn, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"{standin.base_url}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_ussd_session_posts_at_s_fields_with_the_answers_so_far(standin, app) -> None:  # type: ignore[no-untyped-def]
    url = f"http://alpha.majismart.localhost:{app.port}/ussd/TOKEN/"
    assert control(standin, "/__standin__/ussd-code", {"code": "*384*7#", "url": url}) == (200, {"ok": True})
    app.replies += ["CON Menu\n1. Balance\n3. Pay", "CON Pay:\n2. Another amount", "END Check your phone"]
    status, first = control(standin, "/__standin__/ussd/dial", {"phone": PHONE, "code": "*384*7#"})
    assert status == 200 and (first["text"], first["reply"], first["ended"]) == ("", "CON Menu\n1. Balance\n3. Pay",
                                                                                 False)
    second = standin.ussd_answer(session=first["session"], input="3")
    status, third = control(standin, "/__standin__/ussd/answer", {"session": first["session"], "input": " 2 "})
    assert (second["text"], third["text"], third["reply"], third["ended"]) == ("3", "3*2", "END Check your phone",
                                                                                True)
    forms = app.forms()
    assert [f["text"] for f in forms] == ["", "3", "3*2"]
    assert {f["sessionId"] for f in forms} == {first["session"]} and first["session"].startswith("ATUid_")
    assert forms[0] == {"sessionId": first["session"], "serviceCode": "*384*7#", "phoneNumber": PHONE,
                        "networkCode": "63902", "text": ""}
    assert {(path, host) for path, host, _ in app.received} == {("/ussd/TOKEN/", f"alpha.majismart.localhost:{app.port}")}
    # An ended session takes no more answers; an unknown code or phone is refused.
    assert control(standin, "/__standin__/ussd/answer", {"session": first["session"], "input": "1"})[0] == 400
    assert control(standin, "/__standin__/ussd/dial", {"phone": PHONE, "code": "*999#"})[0] == 400
    assert control(standin, "/__standin__/ussd/dial", {"phone": "0712", "code": "*384*7#"})[0] == 400


def test_an_injected_sms_is_posted_as_at_posts_incoming_messages(standin, app) -> None:  # type: ignore[no-untyped-def]
    url = f"http://alpha.majismart.localhost:{app.port}/sms/inbound/TOKEN/"
    standin.register_sms_number("20001", url)
    status, sent = control(standin, "/__standin__/sms/inject", {"phone": PHONE, "text": "BAL", "to": "20001"})
    assert status == 200 and sent["status"] == 200 and sent["response"] == "OK" and sent["id"].startswith("ATXid_")
    again = standin.sms_inject(phone=PHONE, text="BAL", to="20001", message_id=sent["id"])  # AT retrying
    forms = app.forms()
    assert [f["id"] for f in forms] == [sent["id"], again["id"]] == [sent["id"]] * 2
    assert {k: forms[0][k] for k in ("from", "to", "text", "networkCode", "linkId")} == {
        "from": PHONE, "to": "20001", "text": "BAL", "networkCode": "63902", "linkId": ""}
    assert forms[0]["date"][:2] == "20" and len(standin.inbound) == 2


def test_the_simulator_page_dials_and_texts_without_a_script(standin, app) -> None:  # type: ignore[no-untyped-def]
    standin.register_ussd_code("*384*7#", f"http://alpha.majismart.localhost:{app.port}/ussd/T/")
    standin.register_sms_number("20001", f"http://alpha.majismart.localhost:{app.port}/sms/inbound/T/")
    with urllib.request.urlopen(f"{standin.base_url}/__standin__/ussd", timeout=10) as page:
        html = page.read().decode()
    assert "*384*7#" in html and "20001" in html and "<script" not in html
    app.replies.append("CON Karibu <b>\n1. Salio")

    def submit(fields: dict[str, str]) -> str:
        data = urllib.parse.urlencode(fields).encode()
        with urllib.request.urlopen(urllib.request.Request(f"{standin.base_url}/__standin__/ussd", data=data,
                                                           headers={"Content-Type": FORM}), timeout=10) as r:
            return r.read().decode()

    shown = submit({"action": "dial", "phone": PHONE, "code": "*384*7#"})
    assert '<pre id="screen">CON Karibu &lt;b&gt;\n1. Salio</pre>' in shown and 'name="input"' in shown
    submit({"action": "sms", "phone": PHONE, "number": "20001", "text": "SALIO"})
    assert app.forms()[-1]["text"] == "SALIO"


def test_what_the_simulator_posts_is_answered_by_our_endpoints(tenant, at, alpha, app) -> None:  # type: ignore[no-untyped-def]
    client = billed_twice("Wanjiru Kamau")
    client.phone = PHONE
    client.save()
    sms_ready()
    at.register_ussd_code("*384*7#", f"http://alpha.majismart.localhost:{app.port}/ussd/{alpha.callback_token}/")
    at.register_sms_number("20001", f"http://alpha.majismart.localhost:{app.port}/sms/inbound/{alpha.callback_token}/")
    app.replies += ["CON …", "CON …"]
    session = at.ussd_dial(phone=PHONE, code="*384*7#")["session"]
    at.ussd_answer(session=session, input="1")
    at.sms_inject(phone=PHONE, text="bal", to="20001")
    screens = []
    for path, host, body in app.received:  # replayed through the whole stack, as posted
        with committed():
            response = Http().post(path, data=body, content_type=FORM, HTTP_HOST=host.split(":")[0])
        screens.append(response.content.decode())
    assert screens[0].startswith(f"CON Alpha Water {client.account_number}\n1. Balance")
    assert screens[1] == f"CON Account {client.account_number}: you owe KES 1,440.00.\n0 Back 00 Home"
    assert screens[2] == "OK" and InboundSms.objects.get().status == "answered"
    [reply] = at.wait_for_messages(1)
    assert reply["message"] == f"Alpha Water: Account {client.account_number}: you owe KES 1,440.00."
