"""gunicorn's logs without secrets or personal data (`logger_class` in gunicorn.conf.py): the
access log's request line, path, query string and Referer, and every line of the access and
error logs, go through the project's one redaction rule (majismart/log_redaction.py): callback
tokens, pay links and other credentials in paths masked, every query-string value masked
(dashboard searches by phone or ID number).

With LOG_FORMAT json (settings: the default when DEBUG is off) gunicorn's own lines are JSON too,
in the form of the application's (majismart.logcontext.JsonFormatter), so a log pipeline reads
one format: an access line is `{"message": "\"GET /path HTTP/1.1\" 200", "status_code": 200,
"duration_ms": ..., "request_id": ...}`, its request id the one the application answered with
(X-Request-ID), which its own lines for that request carry."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from gunicorn.glogging import Logger

from majismart.log_redaction import RedactFilter, redact_query, redact_url

_FILTER = RedactFilter()  # one object: a configuration reload re-runs setup() and must not stack it


class AccessJsonFilter(logging.Filter):
    """An access record's atoms made fields: the request line and status as the message, the
    status, the time taken and the request id (the application's X-Request-ID answer)."""

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args if isinstance(record.args, Mapping) else None
        if atoms is not None:
            status = str(atoms.get("s", ""))
            record.msg, record.args = '"%s" %s', (atoms.get("r", ""), status)
            record.status_code = int(status) if status.isdigit() else None
            took = str(atoms.get("D", ""))  # microseconds
            record.duration_ms = round(int(took) / 1000, 1) if took.isdigit() else None
            request_id = atoms.get("{x-request-id}o")
            record.request_id = request_id if request_id and request_id != "-" else None
        return True


_ACCESS_JSON = AccessJsonFilter()


def log_format() -> str:
    """settings.LOG_FORMAT, read in gunicorn's master too (before any worker loads the app)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "majismart.settings.base")
    from django.conf import settings

    return str(settings.LOG_FORMAT)

# Request headers that carry a URL (the page a dashboard search was made on, for one).
_URL_HEADERS = ("{referer}i",)


class RedactingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        json_lines = log_format() == "json"
        if json_lines:  # before the redaction, which flattens a record's arguments into its message
            self.access_log.addFilter(_ACCESS_JSON)
        # Any line either logger writes (an "Error handling request GET /pay/..." included).
        for log in (self.error_log, self.access_log):
            log.addFilter(_FILTER)
            if json_lines:
                from majismart.logcontext import JsonFormatter

                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter())

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        environ = {**environ,
                   "RAW_URI": redact_url(environ.get("RAW_URI", "")),
                   "PATH_INFO": redact_url(environ.get("PATH_INFO", "")),
                   "QUERY_STRING": redact_query(environ.get("QUERY_STRING", "")),
                   **({"HTTP_REFERER": redact_url(environ["HTTP_REFERER"])} if "HTTP_REFERER" in environ else {})}
        atoms = super().atoms(resp, req, environ, request_time)
        for key in _URL_HEADERS:
            if key in atoms:
                atoms[key] = redact_url(atoms[key])
        return atoms
