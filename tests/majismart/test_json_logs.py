"""Structured logs (majismart/logcontext.py): a real request's and a Celery task's lines through
the handler production configures (settings.LOGGING's console handler with LOG_FORMAT=json:
its filters and formatter), read back as JSON."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from copy import deepcopy
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client
from django_tenants.utils import tenant_context

from accounts.models import User
from majismart.celery import app as celery_app
from majismart.logcontext import request_id_for
from tests.conftest import host_of, login


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The production console handler (JSON), writing to a buffer, on the root logger."""
    config = deepcopy(settings.LOGGING)
    config["handlers"]["console"]["formatter"] = "json"
    config["handlers"]["console"]["stream"] = buffer = io.StringIO()
    config["root"]["level"] = "INFO"
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logging.config.dictConfig(config)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def lines_of(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_a_request_line_is_json_with_its_context_and_no_personal_data(alpha, json_lines) -> None:  # type: ignore[no-untyped-def]
    http = Client(HTTP_HOST=host_of("alpha"))
    login(http, "alice@alpha.test")
    response = http.get("/dashboard/no-such-page/?q=0712345678&email=carol@alpha.test",
                        HTTP_X_REQUEST_ID="req-1234abcd", HTTP_AUTHORIZATION="Bearer mjs_secret")
    assert response.status_code == 404 and response["X-Request-ID"] == "req-1234abcd"
    [line] = [line for line in lines_of(json_lines) if line["logger"] == "django.request"]
    with tenant_context(alpha):
        alice = User.objects.get(email="alice@alpha.test")
    assert line["level"] == "WARNING" and line["message"] == "Not Found: /dashboard/no-such-page/"
    assert line["request_id"] == "req-1234abcd" and line["schema"] == "alpha" and line["user_id"] == alice.pk
    assert line["status_code"] == 404
    assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)
    assert set(line) == {"time", "level", "logger", "message", "request_id", "schema", "user_id", "status_code"}
    raw = json_lines.getvalue()
    for personal in ("0712345678", "carol@alpha.test", "alice@alpha.test", "mjs_secret"):
        assert personal not in raw


def test_each_request_gets_an_id_and_a_strange_incoming_one_is_replaced(alpha) -> None:  # type: ignore[no-untyped-def]
    http = Client(HTTP_HOST=host_of("alpha"))
    first, second = http.get("/accounts/login/"), http.get("/accounts/login/")
    assert len(first["X-Request-ID"]) == 32 and first["X-Request-ID"] != second["X-Request-ID"]
    for strange in ("short", "x" * 65, "id with spaces", "<script>alert(1)</script>"):
        assert http.get("/accounts/login/", HTTP_X_REQUEST_ID=strange)["X-Request-ID"] != strange
    assert request_id_for("3f2a6c1e-9b7d-4e2a-8c1f-0a9b8c7d6e5f") == "3f2a6c1e-9b7d-4e2a-8c1f-0a9b8c7d6e5f"


@celery_app.task(name="tests.majismart.log_a_line")
def log_a_line() -> None:
    logging.getLogger("tests.task").warning("The task ran.")


def test_a_task_line_carries_its_schema_id_and_name(alpha, json_lines) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        result = log_a_line.delay()
    [line] = [line for line in lines_of(json_lines) if line["logger"] == "tests.task"]
    assert line["schema"] == "alpha" and line["message"] == "The task ran."
    assert line["task_id"] == result.id and line["task_name"] == "tests.majismart.log_a_line"
    assert line["request_id"] is None and line["user_id"] is None


def test_a_traceback_is_redacted_like_the_message(json_lines) -> None:  # type: ignore[no-untyped-def]
    try:
        raise ValueError("while fetching /pay/12-ACC1.abc.def/?phone=0712345678")
    except ValueError:
        logging.getLogger("tests.error").exception("Failed on /pay/12-ACC1.abc.def/")
    [line] = lines_of(json_lines)
    assert line["message"] == "Failed on /pay/…/"
    assert "ValueError" in line["exc_info"] and "0712345678" not in line["exc_info"]
    assert "12-ACC1" not in json_lines.getvalue()


def test_a_real_workers_lines_are_json_with_the_tasks_schema(alpha, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A `celery worker` process logging as production does (LOG_FORMAT=json, INFO): the lines
    of a task sent from alpha carry alpha's schema and the task's id and name."""
    from celery.result import AsyncResult

    from accounts.tasks import clear_expired_sessions
    from devkit.testing import celery_worker

    log = tmp_path / "worker.log"
    with celery_worker(log, loglevel="INFO", LOG_FORMAT="json", LOG_LEVEL="INFO") as (queue, conn, backend):
        with tenant_context(alpha):
            sent = clear_expired_sessions.apply_async(connection=conn, queue=queue)
        assert AsyncResult(sent.id, backend=backend).get(timeout=60)["schema"] == "alpha"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    of_task = [line for line in lines if line.get("task_id") == sent.id]
    assert of_task, log.read_text()
    assert {line["schema"] for line in of_task} == {"alpha"}
    assert {line["task_name"] for line in of_task} == {"accounts.tasks.clear_expired_sessions"}
