"""Optional Sentry (majismart/sentry.py): a child process configured with SENTRY_DSN pointing at
a local stand-in of Sentry's envelope endpoint (devkit/standins/sentry.py) fails a request full
of personal data (its database is unreachable); the report arrives without any of it. In a
child process so that the SDK's hooks never reach the rest of the suite."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from devkit.standins.sentry import SentryStandIn
from devkit.testing import child_env
from majismart.sentry import mask_text, scrub

PERSONAL = ("wanjiru@example.test", "0712345678", "712345678", "Wanjiru Kamau", "sessioncookie-secret",
            "mjs_apikeysecret", "querysecret123", "203.0.113.77", "Mozilla/5.0 (Wanjiru's phone)")

CHILD = """
import http.client, threading, urllib.parse, wsgiref.simple_server
import django, sentry_sdk
django.setup()
from django.core.wsgi import get_wsgi_application
server = wsgiref.simple_server.make_server("127.0.0.1", 0, get_wsgi_application())
threading.Thread(target=server.handle_request, daemon=True).start()
conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
body = urllib.parse.urlencode({"owner_email": "wanjiru@example.test", "owner_phone": "0712345678",
                               "owner_name": "Wanjiru Kamau", "password1": "a-secret-password"})
conn.request("POST", "/signup/?token=querysecret123", body=body, headers={
    "Host": "majismart.localhost", "Content-Type": "application/x-www-form-urlencoded",
    "Cookie": "sessionid=sessioncookie-secret", "Authorization": "Bearer mjs_apikeysecret",
    "X-Forwarded-For": "203.0.113.77", "User-Agent": "Mozilla/5.0 (Wanjiru's phone)",
    "X-Request-ID": "req-sentry-0001"})
print(conn.getresponse().status)
sentry_sdk.flush(10)
"""


@pytest.fixture
def sentry() -> Iterator[SentryStandIn]:
    with SentryStandIn() as standin:
        yield standin


@pytest.mark.django_db
def test_an_error_reaches_sentry_without_personal_data(sentry: SentryStandIn) -> None:
    env = child_env(SENTRY_DSN=sentry.dsn(project=42), SENTRY_ENVIRONMENT="test-child",
                    DATABASE_URL="postgres://postgres@127.0.0.1:9/unreachable", LOG_LEVEL="CRITICAL")
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "500"
    raw = b"\n".join(sentry.wait_for_envelopes(1)).decode()
    [event] = sentry.events()
    assert event["environment"] == "test-child"
    assert event["exception"]["values"][-1]["type"] == "OperationalError"
    assert event["request"]["method"] == "POST" and event["request"]["url"].endswith("/signup/")
    assert event["tags"]["request_id"] == "req-sentry-0001" and event["tags"]["schema"] == "public"
    for personal in PERSONAL:
        assert personal not in raw, personal
    assert "a-secret-password" not in raw and "sessionid" not in raw


def test_the_scrubber_keeps_only_the_user_id_and_masks_messages() -> None:
    event = scrub({
        "user": {"id": 7, "email": "carol@alpha.test", "username": "carol", "ip_address": "203.0.113.5"},
        "request": {"method": "GET", "url": "https://alpha.example/pay/12-ACC1.abc.def/?phone=0712345678",
                    "query_string": "phone=0712345678", "cookies": {"sessionid": "s"}, "data": {"phone": "0712345678"},
                    "headers": {"Authorization": "Bearer mjs_x", "Cookie": "sessionid=s", "Host": "alpha.example"},
                    "env": {"REMOTE_ADDR": "203.0.113.5"}},
        "logentry": {"message": "Paid by %s", "params": ["0712345678"], "formatted": "Paid by +254 712 345 678"},
        "exception": {"values": [{"type": "ValueError", "value": "no client carol@alpha.test",
                                  "stacktrace": {"frames": [{"function": "f", "vars": {"phone": "0712345678"}}]}}]},
        "breadcrumbs": {"values": [{"message": "SMS to 0712345678", "data": {"to": "0712345678"}}]},
        "extra": {"celery-job": {"task_name": "notify", "args": ["0712345678"], "kwargs": {}}, "body": "x"},
    })
    assert event["user"] == {"id": 7}
    assert event["request"] == {"method": "GET", "url": "https://alpha.example/pay/…/",
                                "headers": {"Host": "alpha.example"}}
    assert event["logentry"] == {"message": "Paid by …"}
    assert event["extra"] == {"celery-job": {"task_name": "notify"}}
    assert "0712345678" not in json.dumps(event) and "carol@alpha.test" not in json.dumps(event)
    assert mask_text("invoice INV-2026-000123 for 12 m3") == "invoice INV-2026-000123 for 12 m3"
