"""Optional error reporting to Sentry (SENTRY_DSN), with personal data kept out.

sentry-sdk's Django and Celery integrations report unhandled errors of requests and tasks.
`send_default_pii=False` already leaves out cookies, the user's email, username and address,
and the request body; `scrub` (the `before_send` and `before_send_transaction` hook) makes sure
of it whatever an integration or a later SDK version adds:

- the request keeps its method and its path, redacted as in the logs (no pay link or callback
  token), and no query string, body, cookies, environment, nor headers but a harmless few;
- the user is their numeric id only;
- messages, exception values and breadcrumbs go through the logs' redaction, and email
  addresses and phone numbers in them are masked;
- a Celery task's arguments are left out (its name kept); no frame's local variables are sent.

Each event is tagged with the provider's schema and the request id of the JSON logs.
"""

from __future__ import annotations

import re
from typing import Any

from majismart.log_redaction import MARK, redact_text, redact_url

# Headers that say nothing about the person (no Cookie, Authorization, X-Forwarded-For, User-Agent...).
SAFE_HEADERS = {"host", "content-type", "content-length", "accept", "x-request-id"}
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A phone number as people write it: 9+ digits, perhaps spaced, perhaps after a +.
_PHONE = re.compile(r"(?<![\w-])\+?\d(?: ?\d){8,}(?![\w-])")


def mask_text(text: str) -> str:
    """A message or exception value: redacted as log lines are, emails and phone numbers masked."""
    if not isinstance(text, str):
        return text
    return _PHONE.sub(MARK, _EMAIL.sub(MARK, redact_text(text)))


def _scrub_request(request: dict[str, Any]) -> dict[str, Any]:
    url = request.get("url") or ""
    headers = request.get("headers") or {}
    return {
        "method": request.get("method"),
        "url": redact_url(url.partition("?")[0]),
        "headers": {name: value for name, value in headers.items() if name.lower() in SAFE_HEADERS},
    }


def scrub(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's `before_send`: the event with every personal detail taken out."""
    if "request" in event:
        event["request"] = _scrub_request(event["request"])
    user = event.get("user") or {}
    event["user"] = {"id": user["id"]} if user.get("id") is not None else {}
    for key in ("message",):
        if key in event:
            event[key] = mask_text(event[key])
    if isinstance(event.get("logentry"), dict):
        entry = event["logentry"]
        event["logentry"] = {"message": mask_text(entry.get("formatted") or entry.get("message") or "")}
    for exception in (event.get("exception") or {}).get("values") or []:
        exception["value"] = mask_text(exception.get("value") or "")
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    for thread in (event.get("threads") or {}).get("values") or []:
        for frame in (thread.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    breadcrumbs = event.get("breadcrumbs") or {}
    for crumb in breadcrumbs.get("values") or [] if isinstance(breadcrumbs, dict) else []:
        crumb.pop("data", None)
        if "message" in crumb:
            crumb["message"] = mask_text(crumb["message"])
    extra = event.get("extra") or {}
    job = extra.get("celery-job")
    event["extra"] = {"celery-job": {"task_name": job.get("task_name")}} if isinstance(job, dict) else {}
    event.setdefault("tags", {}).update(_context_tags())
    return event


def _context_tags() -> dict[str, str]:
    from majismart.logcontext import request_id_var
    from majismart.tenancy import connection

    tags = {"schema": getattr(connection, "schema_name", "") or ""}
    if request_id_var.get():
        tags["request_id"] = request_id_var.get() or ""
    return tags


def sentry_init(*, dsn: str, environment: str, traces_sample_rate: float, release: str = "") -> None:
    """Start reporting to Sentry (called by the settings when SENTRY_DSN is set)."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        traces_sample_rate=traces_sample_rate,
        before_send=scrub,  # type: ignore[arg-type]
        before_send_transaction=scrub,  # type: ignore[arg-type]
    )
