"""What every log line says about where it came from, and the JSON form production writes.

- `RequestIdMiddleware` gives each request an id (a sane incoming `X-Request-ID` from the proxy,
  else a new one), returns it in the `X-Request-ID` response header, and keeps it, and once the
  user is known their numeric id, in context variables for the request's duration.
- `ContextFilter` (on the handlers) copies them onto every record, with the running Celery
  task's id and name inside a worker; the schema comes from django-tenants' filter beside it.
- `JsonFormatter` (python-json-logger) writes one JSON object a line with exactly the fields in
  `FIELDS`: never a record's other attributes (Django's request logger attaches the request
  itself, whose text carries the query string; a caller's `extra=` may hold anything), and the
  traceback through the same redaction as the message.

Personal data stays out: the user is their numeric id, nothing is taken from a request's body
or headers but the request id.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

from majismart.log_redaction import redact_text

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id (a UUID, a hex or base64url token, nginx's $request_id): kept when it looks like one.
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")

request_id_var: ContextVar[str | None] = ContextVar("majismart_request_id", default=None)
user_id_var: ContextVar[int | None] = ContextVar("majismart_user_id", default=None)

# The fields of a JSON log line, in this order; anything else on a record is left out.
FIELDS = ("time", "level", "logger", "message", "request_id", "schema", "user_id", "task_id", "task_name",
          "status_code", "duration_ms", "exc_info")


def request_id_for(incoming: str) -> str:
    """The incoming id when it is sane, else a new one (32 hex characters)."""
    return incoming if _SANE_ID.fullmatch(incoming or "") else uuid.uuid4().hex


class RequestIdMiddleware:
    """First in the chain: every later middleware's and view's log lines carry the id, and so do
    the lines Django writes once the chain has answered (its "Not Found" warnings): the context
    is cleared when the request finishes (`request_finished`), not when the chain returns."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_for(request.META.get("HTTP_X_REQUEST_ID", ""))
        request.request_id = request_id  # type: ignore[attr-defined]
        request_id_var.set(request_id)
        user_id_var.set(None)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def _request_finished(**kwargs: Any) -> None:
    request_id_var.set(None)
    user_id_var.set(None)


request_finished.connect(_request_finished, dispatch_uid="majismart.logcontext")


class UserIdMiddleware:
    """After authentication: the signed-in user's numeric id for the request's later log lines."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and isinstance(user.pk, int):
            user_id_var.set(user.pk)
        return self.get_response(request)


def _current_task() -> tuple[str | None, str | None]:
    from celery import current_task

    request = getattr(current_task, "request", None) if current_task else None
    task_id = getattr(request, "id", None)
    return (task_id, current_task.name) if task_id else (None, None)


class ContextFilter(logging.Filter):
    """Adds request_id, user_id, task_id and task_name (None where there is none) to a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.user_id = user_id_var.get()
        record.task_id, record.task_name = _current_task()
        return True


class JsonFormatter(BaseJsonFormatter):
    """`{"time": UTC ISO, "level", "logger", "message", "request_id", "schema", "user_id", ...}`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("timestamp", "time")
        # UTF-8 as written (a redaction mark, a Kiswahili word), not \u escapes.
        kwargs.setdefault("json_ensure_ascii", False)
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger", "schema_name": "schema"})
        kwargs.setdefault("fmt", "%(levelname)s %(name)s %(message)s %(request_id)s %(schema_name)s %(user_id)s")
        super().__init__(*args, **kwargs)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        if log_data.get("task_id") is None:
            log_data.pop("task_id", None)
            log_data.pop("task_name", None)
        return {key: log_data[key] for key in FIELDS if key in log_data}

    def formatException(self, ei: Any) -> str:
        """The traceback, redacted like the message (RedactFilter redacts only `exc_text`)."""
        text = super().formatException(ei)
        return redact_text(text if isinstance(text, str) else "\n".join(text))
