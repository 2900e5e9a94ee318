"""No secret or personal data in any log: callback tokens (and other credentials) in paths are
masked and query-string values (dashboard searches by phone or national ID number) never
written, by Django's loggers, runserver, gunicorn's access and error logs, or our own lines."""

from __future__ import annotations

import http.client
import io
import json
import logging
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
from django.conf import settings
from django.http import HttpResponseNotFound, HttpResponseServerError
from django.test import Client, RequestFactory
from django.utils.log import log_response

from devkit.testing import PYTHON, ROOT, child_env, free_port, process
from majismart.log_redaction import MARK, RedactFilter, redact_query, redact_text, redact_url
from tests.billing_helpers import own_provider
from tests.conftest import host_of

TOKEN = "Zq8TcallbackT0kenNeverLogged_x9Y"  # the shape of secrets.token_urlsafe(24)
PHONE = "254799123456"
NATIONAL_ID = "31415926"


@pytest.mark.parametrize(("url", "expected"), [
    (f"/payments/mpesa/c2b/confirmation/{TOKEN}/", f"/payments/mpesa/c2b/confirmation/{MARK}/"),
    (f"/payments/c2b/validation/{TOKEN}/", f"/payments/c2b/validation/{MARK}/"),
    (f"/payments/stk/callback/{TOKEN}/?x=1", f"/payments/stk/callback/{MARK}/?x={MARK}"),
    (f"/notifications/sms/delivery/{TOKEN}/", f"/notifications/sms/delivery/{MARK}/"),
    ("/ussd/short-token/", f"/ussd/{MARK}/"),
    ("/sms/inbound/short-token/", f"/sms/inbound/{MARK}/"),
    ("/pay/12-ACC1.abc.def/3/status/", f"/pay/{MARK}/3/status/"),
    ("/accounts/welcome/abc:def:ghi/", f"/accounts/welcome/{MARK}/"),
    ("/accounts/reset/MQ/cf3x9y-0a1b2c3d/", f"/accounts/reset/MQ/{MARK}/"),
    ("/accounts/reset/MQ/set-password/", "/accounts/reset/MQ/set-password/"),
    (f"/portal/privacy/exports/{TOKEN}/", f"/portal/privacy/exports/{MARK}/"),
    (f"/dashboard/privacy/export/{TOKEN}/download/", f"/dashboard/privacy/export/{MARK}/download/"),
    # A mistyped callback route 404s with the token in it all the same.
    (f"/payments/mpesa/c2b/confirmaton/{TOKEN}/", f"/payments/mpesa/c2b/confirmaton/{MARK}/"),
    # Encoded as Django would route it.
    (f"/pay%2F{TOKEN}/", f"/pay/{MARK}/"),
    (f"/payments/mpesa/c2b/confirmation/{TOKEN[:4]}%41{TOKEN[4:]}/", f"/payments/mpesa/c2b/confirmation/{MARK}/"),
    (f"/dashboard/clients/?q={PHONE}&page=2", f"/dashboard/clients/?q={MARK}&page={MARK}"),
    (f"/api/v1/clients/?search=%2B{PHONE}&status=", f"/api/v1/clients/?search={MARK}&status="),
    (f"/dashboard/clients/?{NATIONAL_ID}", f"/dashboard/clients/?{MARK}"),
    (f"/dashboard/clients/?{NATIONAL_ID}=1", f"/dashboard/clients/?{MARK}={MARK}"),
    (f"https://alpha.example.co.ke/dashboard/clients/?q={PHONE}#top", f"https://alpha.example.co.ke/dashboard/clients/?q={MARK}"),
    ("/x%0Ay", "/x%0Ay"),  # no control character reaches a line
    # What is not a credential stays readable.
    ("/portal/pay/3/status/", "/portal/pay/3/status/"),
    ("/dashboard/payments/3/", "/dashboard/payments/3/"),
    ("/dashboard/messages/templates/payment_received_receipt/sms/", "/dashboard/messages/templates/payment_received_receipt/sms/"),
    ("/static/css/app.3f2a1b9c8d7e41f0a9b8c7d6.css", "/static/css/app.3f2a1b9c8d7e41f0a9b8c7d6.css"),
])
def test_it_masks_credentials_in_paths_and_every_query_value(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_it_finds_paths_and_urls_in_free_text() -> None:
    assert redact_text(f"Not Found: /payments/c2b/confirmation/{TOKEN}/") == f"Not Found: /payments/c2b/confirmation/{MARK}/"
    assert redact_text(f"callback c2b -> http://a.majismart.localhost:8000/payments/c2b/validation/{TOKEN}/: 200") == (
        f"callback c2b -> http://a.majismart.localhost:8000/payments/c2b/validation/{MARK}/: 200")
    assert redact_text(f'"GET /dashboard/clients/?q={PHONE}&id_number={NATIONAL_ID} HTTP/1.1" 200 5') == (
        f'"GET /dashboard/clients/?q={MARK}&id_number={MARK} HTTP/1.1" 200 5')
    assert redact_text(f"Error handling request GET /pay/{TOKEN}?next=/pay/{TOKEN}/") == (
        f"Error handling request GET /pay/{MARK}?next={MARK}")
    assert redact_query(f"q={PHONE};msisdn={PHONE}&token=&key={TOKEN}") == f"q={MARK};msisdn={MARK}&token=&key={MARK}"
    assert redact_text("Nothing here: 12 clients, 3 pages") == "Nothing here: 12 clients, 3 pages"
    assert redact_text(redact_text(f"/pay/{TOKEN}/?q=1")) == f"/pay/{MARK}/?q={MARK}"


def _format(record: logging.LogRecord) -> str:
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(RedactFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.handle(record)
    return handler.stream.getvalue()


def test_the_filter_redacts_django_request_records_and_their_tracebacks() -> None:
    captured: list[logging.LogRecord] = []
    request_logger = logging.getLogger("django.request")
    grab = logging.Handler()
    grab.emit = captured.append  # type: ignore[method-assign]
    request_logger.addHandler(grab)
    try:
        path = f"/payments/mpesa/c2b/confirmation/{TOKEN}/"
        request = RequestFactory().get(path, {"q": PHONE}, HTTP_HOST=host_of("alpha"))
        log_response("Not Found: %s", request.path, response=HttpResponseNotFound(), request=request)
        try:
            raise RuntimeError(f"cannot read {request.get_full_path()}")
        except RuntimeError as exc:
            log_response("%s: %s", "Internal Server Error", request.path, response=HttpResponseServerError(),
                         request=request, exception=exc)
    finally:
        request_logger.removeHandler(grab)
    not_found, server_error = (_format(record) for record in captured)
    assert not_found == f"WARNING django.request: Not Found: /payments/mpesa/c2b/confirmation/{MARK}/\n"
    assert server_error.startswith(f"ERROR django.request: Internal Server Error: /payments/mpesa/c2b/confirmation/{MARK}/\n")
    assert f"RuntimeError: cannot read /payments/mpesa/c2b/confirmation/{MARK}/?q={MARK}" in server_error
    assert TOKEN not in not_found + server_error and PHONE not in server_error


def test_a_malformed_log_call_leaves_its_arguments_out() -> None:
    record = logging.LogRecord("payments", logging.WARNING, __file__, 1, "%s and %s", (f"/pay/{TOKEN}/",), None)
    assert _format(record) == "WARNING payments: %s and %s\n"


@contextmanager
def _console() -> Iterator[io.StringIO]:
    """What the configured handlers (settings.LOGGING) write, meanwhile."""
    handlers = [h for name in ("", "django.server") for h in logging.getLogger(name).handlers
                if isinstance(h, logging.StreamHandler) and any(isinstance(f, RedactFilter) for f in h.filters)]
    assert len(handlers) == 2
    out = io.StringIO()
    previous = [h.setStream(out) for h in handlers]
    try:
        yield out
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)


def test_the_projects_logging_redacts_every_django_logger(alpha) -> None:  # type: ignore[no-untyped-def]
    http = Client(HTTP_HOST=host_of("alpha"), raise_request_exception=False)
    real = f"/payments/mpesa/c2b/confirmation/{alpha.callback_token}/"

    def fails(request):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"screen failed for {request.get_full_path()}")

    with _console() as out:
        assert http.post(f"/payments/mpesa/c2b/confirmation/{TOKEN}/").status_code == 404
        assert http.get(real).status_code == 405  # the registered URL opened in a browser
        with mock.patch("payments.views.callbacks._screen", side_effect=fails):
            assert http.post(f"{real}?q={PHONE}").status_code == 500
        logging.getLogger("django.security.csrf").warning("Forbidden (CSRF cookie not set.): %s", f"/pay/{TOKEN}/")
        logging.getLogger("django.server").info('"%s" %s %s', f"GET /dashboard/clients/?q={PHONE} HTTP/1.1", 200, 10,
                                                extra={"status_code": 200, "request": None})
    output = out.getvalue()
    assert f"Not Found: /payments/mpesa/c2b/confirmation/{MARK}/" in output
    assert f"Method Not Allowed (GET): /payments/mpesa/c2b/confirmation/{MARK}/" in output
    assert f"Internal Server Error: /payments/mpesa/c2b/confirmation/{MARK}/" in output
    assert f"RuntimeError: screen failed for /payments/mpesa/c2b/confirmation/{MARK}/?q={MARK}" in output
    assert f"Forbidden (CSRF cookie not set.): /pay/{MARK}/" in output
    assert f'"GET /dashboard/clients/?q={MARK} HTTP/1.1" 200 10' in output
    for secret in (TOKEN, alpha.callback_token, PHONE):
        assert secret not in output
    # Each line once: Django's own console handler no longer repeats django.* records in DEBUG.
    assert output.count("Not Found:") == 1


def test_gunicorns_access_line_is_redacted_field_by_field() -> None:
    from gunicorn.config import Config

    from majismart.gunicorn_logging import RedactingLogger

    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/dashboard/clients/?q={PHONE}", "PATH_INFO": "/dashboard/clients/",
               "QUERY_STRING": f"q={PHONE}", "SERVER_PROTOCOL": "HTTP/1.1",
               "HTTP_REFERER": f"https://a.example/dashboard/clients/?search={NATIONAL_ID}"}
    req = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    atoms = RedactingLogger(Config()).atoms(SimpleNamespace(status="200 OK", sent=10, headers=[]), req, environ,
                                            timedelta(milliseconds=3))
    assert atoms["r"] == f"GET /dashboard/clients/?q={MARK} HTTP/1.1" and atoms["q"] == f"q={MARK}"
    assert atoms["f"] == atoms["{referer}i"] == f"https://a.example/dashboard/clients/?search={MARK}"
    assert not any(PHONE in str(v) or NATIONAL_ID in str(v) for v in atoms.values())


def test_gunicorns_error_log_is_redacted() -> None:
    from gunicorn.config import Config

    from majismart.gunicorn_logging import RedactingLogger

    logger = RedactingLogger(Config())
    captured: list[str] = []
    grab = logging.Handler()
    grab.emit = lambda record: captured.append(record.getMessage())  # type: ignore[method-assign]
    logger.error_log.addHandler(grab)
    try:
        logger.setup(logger.cfg)  # a configuration reload: the filter is not stacked
        assert logger.error_log.filters.count(logger.error_log.filters[0]) == 1
        logger.error("Error handling request %s %s", "POST", f"/payments/stk/callback/{TOKEN}/?msisdn={PHONE}")
    finally:
        logger.error_log.removeHandler(grab)
    assert captured == [f"Error handling request POST /payments/stk/callback/{MARK}/?msisdn={MARK}"]


def _send(port: int, method: str, path: str, host: str, **headers: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=b"{}" if method == "POST" else None,
                     # As the TLS-terminating proxy in front of it forwards every request.
                     headers={"Host": host, "Content-Type": "application/json", "X-Forwarded-Proto": "https",
                              "X-Forwarded-For": "203.0.113.9", **headers})
        return conn.getresponse().status
    finally:
        conn.close()


def test_a_production_gunicorn_logs_no_token_phone_or_id(django_db_setup, django_db_blocker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """gunicorn started as the Procfile starts it (gunicorn.conf.py: the access log on stdout),
    DEBUG off, logging at INFO; everything it prints is read back."""
    from django_tenants.utils import tenant_context

    from accounts.services import api_key_create

    with own_provider(django_db_blocker, "logs") as provider, django_db_blocker.unblock():
        with tenant_context(provider):
            key = api_key_create(name="log test")[1]
        real = provider.callback_token
        port = free_port()
        env = child_env(DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), EMAIL_URL="consolemail://",
                        LOG_LEVEL="INFO", GUNICORN_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1", GUNICORN_THREADS="2",
                        TRUSTED_PROXY_COUNT="1")
        env.pop("REDIS_URL", None)
        # DEBUG off serves hashed static files from collectstatic's manifest, as the image does; the
        # site's own files are enough here (the admin's and the API docs' take a minute to compress).
        env["STATIC_ROOT"] = str(tmp_path / "static")
        subprocess.run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v0", "-i", "admin", "-i", "rest_framework",
                        "-i", "drf_spectacular_sidecar"], env=env, cwd=ROOT, check=True, timeout=120)
        log = tmp_path / "web.log"
        host = provider.domain
        search = f"/dashboard/clients/?q=%2B{PHONE}&id_number={NATIONAL_ID}"
        with process([PYTHON, "-m", "gunicorn", "majismart.wsgi:application"], env, port=port, log=log):
            statuses = {
                "wrong token": _send(port, "POST", f"/payments/mpesa/c2b/confirmation/{TOKEN}/", host),
                "real token, GET": _send(port, "GET", f"/payments/c2b/confirmation/{real}/", host),
                "stk, wrong token": _send(port, "POST", f"/payments/stk/callback/{TOKEN}/?q={PHONE}", host),
                "delivery report": _send(port, "POST", f"/notifications/sms/delivery/{TOKEN}/", host),
                "no such provider": _send(port, "POST", f"/payments/mpesa/c2b/validation/{real}/",
                                          f"nosuch.{settings.BASE_DOMAIN}"),
                "dashboard search": _send(port, "GET", search, host),
                "API search": _send(port, "GET", f"/api/v1/clients/?search={NATIONAL_ID}", host,
                                    Authorization=f"Bearer {key}"),
                "search as referer": _send(port, "GET", "/healthz", host, Referer=f"http://{host}{search}"),
                "reset link": _send(port, "GET", f"/accounts/reset/MQ/{TOKEN}/?id_number={NATIONAL_ID}", host),
            }
        output = log.read_text()
    assert statuses == {"wrong token": 404, "real token, GET": 405, "stk, wrong token": 404, "delivery report": 404,
                        "no such provider": 404, "dashboard search": 302, "API search": 200,
                        "search as referer": 200, "reset link": 200}, output
    # Every line is JSON (DEBUG off: LOG_FORMAT json), gunicorn's own included, and was redacted.
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    messages = [line["message"] for line in lines]
    assert f"Not Found: /payments/mpesa/c2b/confirmation/{MARK}/" in messages
    assert f"Method Not Allowed (GET): /payments/c2b/confirmation/{MARK}/" in messages
    assert f'"POST /payments/stk/callback/{MARK}/?q={MARK} HTTP/1.1" 404' in messages
    assert f'"GET /dashboard/clients/?q={MARK}&id_number={MARK} HTTP/1.1" 302' in messages
    assert f'"GET /api/v1/clients/?search={MARK} HTTP/1.1" 200' in messages
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines)
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    assert len(access) == len(statuses)
    assert sorted(line["status_code"] for line in access) == sorted(statuses.values())
    assert all(line["duration_ms"] >= 0 and line["request_id"] for line in access)
    # An access line carries the request id the application's own lines for that request carry.
    [not_found] = [line for line in lines if line["message"] == f"Not Found: /payments/mpesa/c2b/confirmation/{MARK}/"]
    [answered] = [line for line in access if line["message"].startswith('"POST /payments/mpesa/c2b/confirmation/')]
    assert answered["request_id"] == not_found["request_id"] and answered["status_code"] == 404
    for secret in (TOKEN, real, PHONE, NATIONAL_ID, key):
        assert secret not in output, (secret, output)
