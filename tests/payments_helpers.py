"""Payments test helpers: the Daraja stand-in over real HTTP, a recorder standing at our
callback address (tests replay what Daraja posted through the whole Django stack, inside the
test's transaction), sandbox M-Pesa settings, and a small Paystack stand-in."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client as Http
from django.test import TestCase

from devkit.standins.daraja import DarajaStandIn
from payments.demo import SANDBOX_PASSKEY, SANDBOX_SHORTCODE
from payments.models import PaymentSettings

CONSUMER_KEY, CONSUMER_SECRET = "test-consumer-key", "test-consumer-secret"
PAYSTACK_SECRET = "sk_test_6c1f0b9b2f0c4b7e9a1d5e3f8a2b4c6d"


def mpesa_ready(**changes: object) -> PaymentSettings:
    """The current provider on Safaricom's sandbox values (the stand-in checks the password)."""
    cfg = PaymentSettings.load()
    cfg.mpesa_environment, cfg.mpesa_shortcode = "sandbox", SANDBOX_SHORTCODE
    cfg.mpesa_consumer_key, cfg.mpesa_consumer_secret, cfg.mpesa_passkey = CONSUMER_KEY, CONSUMER_SECRET, SANDBOX_PASSKEY
    cfg.paystack_secret_key = PAYSTACK_SECRET
    for name, value in changes.items():
        setattr(cfg, name, value)
    cfg.save()
    return cfg


@dataclass
class Recorded:
    path: str
    host: str
    body: bytes


@dataclass
class Recorder:
    """Stands at our callback address (SITE_PORT points links here) and keeps what arrives."""

    port: int
    received: list[Recorded] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def wait(self, n: int, timeout: float = 10) -> list[Recorded]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.received) >= n, timeout):
                raise TimeoutError(f"{len(self.received)} of {n} callbacks arrived")
            return list(self.received)

    def replay(self, http: Http, item: Recorded) -> Any:
        """Deliver a recorded callback to the app exactly as Daraja sent it (and run what the
        view queued for after its commit: the processing task)."""
        return deliver(http, item.path, item.body, HTTP_HOST=item.host.split(":")[0])


def deliver(http: Http, path: str, body: bytes, **extra: Any) -> Any:
    """POST a callback body inside the test's transaction, running its on-commit work."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return http.post(path, data=body, content_type="application/json", **extra)


@pytest.fixture
def recorder(settings) -> Iterator[Recorder]:  # type: ignore[no-untyped-def]
    holder: dict[str, Recorder] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            rec = holder["r"]
            with rec._cond:
                rec.received.append(Recorded(self.path, self.headers.get("Host", ""), body))
                rec._cond.notify_all()
            answer = json.dumps({"ResultCode": "0", "ResultDesc": "Accepted"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["r"] = Recorder(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SITE_PORT = str(holder["r"].port)
    settings.SITE_SCHEME = "http"
    yield holder["r"]
    server.shutdown()
    server.server_close()


@pytest.fixture
def daraja(settings) -> Iterator[DarajaStandIn]:  # type: ignore[no-untyped-def]
    """A fresh Daraja stand-in, and the sandbox environment pointed at it."""
    standin = DarajaStandIn("127.0.0.1", 0, callback_delay=0.1, credentials={CONSUMER_KEY: CONSUMER_SECRET}).start()
    settings.DARAJA_URLS = {"sandbox": standin.base_url, "production": standin.base_url}
    yield standin
    standin.stop()


def stk_bodies(standin: DarajaStandIn) -> list[dict]:
    return [r["json"] for r in standin.requests if r["path"].startswith("/mpesa/stkpush/")]


def paystack_sign(body: bytes, secret: str = PAYSTACK_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def charge_success(reference: str, amount_cents: int, **changes: object) -> dict:
    """Paystack's documented charge.success event (shape of the official sample), in KES."""
    data = {"id": 302961, "domain": "test", "status": "success", "reference": reference, "amount": amount_cents,
            "message": None, "gateway_response": "Approved by Financial Institution",
            "paid_at": "2026-11-23T07:10:19.000Z", "created_at": "2026-11-23T07:09:56.000Z", "channel": "card",
            "currency": "KES", "ip_address": "41.242.49.37", "metadata": 0, "fees": None,
            "customer": {"id": 68324, "first_name": "Carol", "last_name": "Chebet", "email": "carol@example.com",
                         "customer_code": "CUS_qo38as2hpsgk2r0", "phone": None, "metadata": None,
                         "risk_action": "default"},
            "authorization": {"authorization_code": "AUTH_f5rnfq9p", "bin": "539999", "last4": "8877",
                              "exp_month": "08", "exp_year": "2030", "card_type": "mastercard DEBIT",
                              "bank": "Test Bank", "country_code": "KE", "brand": "mastercard"}, "plan": {}}
    data.update(changes)
    return {"event": "charge.success", "data": data}


@dataclass
class PaystackStandIn:
    base_url: str
    initialized: list[dict] = field(default_factory=list)
    verify_answers: dict[str, dict] = field(default_factory=dict)


@pytest.fixture
def paystack(settings) -> Iterator[PaystackStandIn]:  # type: ignore[no-untyped-def]
    """Paystack's initialize and verify, answering as documented (§3.1)."""
    holder: dict[str, PaystackStandIn] = {}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, payload: dict) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {PAYSTACK_SECRET}":
                self._answer(401, {"status": False, "message": "Invalid key"})
                return False
            return True

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if not self._authorised():
                return
            if self.path != "/transaction/initialize":
                return self._answer(404, {"status": False, "message": "Not found"})
            holder["p"].initialized.append(body)
            code = body["reference"][-10:]
            self._answer(200, {"status": True, "message": "Authorization URL created", "data": {
                "authorization_url": f"https://checkout.paystack.com/{code}", "access_code": code,
                "reference": body["reference"]}})

        def do_GET(self) -> None:  # noqa: N802
            if not self._authorised():
                return
            reference = self.path.rsplit("/", 1)[-1]
            data = holder["p"].verify_answers.get(reference)
            if data is None:
                return self._answer(400, {"status": False, "message": "Transaction reference not found"})
            self._answer(200, {"status": True, "message": "Verification successful", "data": data})

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["p"] = PaystackStandIn(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.PAYSTACK_URL = holder["p"].base_url
    yield holder["p"]
    server.shutdown()
    server.server_close()


def settle(seconds: float = 0.3) -> None:
    time.sleep(seconds)
