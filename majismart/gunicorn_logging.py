"""gunicorn's logs without secrets or personal data (`logger_class` in gunicorn.conf.py): the
access log's request line, path, query string and Referer, and every line of the access and
error logs, go through the project's one redaction rule (majismart/log_redaction.py): callback
tokens, pay links and other credentials in paths masked, every query-string value masked
(dashboard searches by phone or ID number)."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from majismart.log_redaction import RedactFilter, redact_query, redact_url

_FILTER = RedactFilter()  # one object: a configuration reload re-runs setup() and must not stack it

# Request headers that carry a URL (the page a dashboard search was made on, for one).
_URL_HEADERS = ("{referer}i",)


class RedactingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # Any line either logger writes (an "Error handling request GET /pay/..." included).
        for log in (self.error_log, self.access_log):
            log.addFilter(_FILTER)

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
