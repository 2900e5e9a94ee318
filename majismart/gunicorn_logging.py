"""gunicorn's access log without secrets: the payment callback URLs carry the provider's secret
token in their path (the SMS delivery reports too), and pay links are credentials; both are masked before a line is written
(`--logger-class majismart.gunicorn_logging.RedactingLogger`)."""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

SECRET_PATHS = re.compile(r"^(/payments/(?:mpesa/)?(?:c2b/[a-z]+|stk/callback)/|/pay/|/notifications/sms/delivery/)[^/?]+")


def redact(path: str) -> str:
    return SECRET_PATHS.sub(lambda m: m.group(1) + "…", path or "")


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        environ = {**environ, "RAW_URI": redact(environ.get("RAW_URI", "")),
                   "PATH_INFO": redact(environ.get("PATH_INFO", ""))}
        return super().atoms(resp, req, environ, request_time)
