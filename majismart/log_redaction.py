"""One redaction rule for every log line that can carry a request's URL: Django's request,
server and security loggers, gunicorn's access and error logs, and the project's own lines
(settings.LOGGING and majismart/gunicorn_logging.py both use it).

- A credential in a path is replaced by a marker: the provider's callback token (Daraja
  callbacks, Africa's Talking delivery reports, USSD and incoming SMS), pay links, sign-up hand-offs, password resets
  and privacy-export downloads; and, for a mistyped route that 404s, any path segment that looks
  like a generated token (24+ URL-safe characters with a digit or a capital).
- Every query-string value is masked, keys kept (`?q=…&page=…`). All of them rather than a list
  of known names: a dashboard search (`q`, `search`) carries phone numbers, national ID and
  account numbers, `next` can carry a pay link or an export's token, a provider's return URL
  carries payment references, and a parameter added next year is covered without anyone
  remembering this file. A key that does not look like a name is masked too.

Standard library only: gunicorn's master process imports it before Django is set up.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, unquote

MARK = "…"

# Routes whose next path segment is a credential.
_SECRET_ROUTES = (
    r"/payments/(?:mpesa/)?(?:c2b/[a-z]+|stk/callback)/",  # Daraja callbacks: the callback token
    r"/notifications/sms/delivery/",  # Africa's Talking delivery reports: the same kind of token
    r"/ussd/",  # Africa's Talking USSD: the provider's callback token
    r"/sms/inbound/",  # Africa's Talking incoming SMS: the same
    r"/pay/",  # pay links: whoever has one may pay and see the bill
    r"/accounts/welcome/",  # the sign-up hand-off: a signed login
    r"/accounts/reset/[^/\s\"'?#]+/(?!set-password(?:[/\s\"'?#]|$))",  # password reset: after the user's id
    r"/portal/privacy/exports/",  # a client's data export
    r"/dashboard/privacy/export/",  # a provider's export of a client's data
)
# A path or URL starts after whitespace, a quote, a bracket or a separator, never inside another
# path segment (`/portal/pay/3/` is not a pay link); an absolute URL keeps its scheme and host.
_SECRET_PATH = re.compile(
    r"(?<![^\s\"'(<\[=,;:])(?P<keep>(?:[A-Za-z][A-Za-z0-9+.-]*:)?(?://[^/\s\"'?#]*)?(?:"
    + "|".join(_SECRET_ROUTES)
    + r"))(?P<secret>[^/?#\s\"']+)"
)
# 24+ URL-safe characters with a digit or a capital: secrets.token_urlsafe and signing tokens;
# not a slug such as `password-reset-complete` nor a hashed static file's name (it has a dot).
_TOKEN_SEGMENT = re.compile(r"(?<=/)(?=[A-Za-z0-9_-]*[A-Z0-9])[A-Za-z0-9_-]{24,}(?=[/?#\s\"']|$)")
# A query string after a path (in free text: after a path character).
_QUERY = re.compile(r"(?:(?<=[\w/.~%-])|^)\?(?P<query>[^\s\"'#<>]+)")
_SAFE_KEY = re.compile(r"[A-Za-z_][A-Za-z_.\[\]-]{0,39}[0-9]?")
# Kept as they are when a path is encoded again after decoding (RFC 3986's delimiters but ? and #).
_PATH_SAFE = "/:@!$&'()*+,;=~"


def redact_query(query: str) -> str:
    """`q=0712345678&page=2` -> `q=…&page=…`; an empty value stays empty."""
    out = []
    for part in re.split(r"([&;])", query):
        if part in ("&", ";", ""):
            out.append(part)
            continue
        key, sep, value = part.partition("=")
        key = key if _SAFE_KEY.fullmatch(key) else MARK
        out.append(f"{key}={MARK if value else ''}" if sep else MARK)
    return "".join(out)


def _redact_paths(text: str) -> str:
    text = _SECRET_PATH.sub(lambda m: m.group("keep") + MARK, text)
    return _TOKEN_SEGMENT.sub(MARK, text)


def redact_text(text: str) -> str:
    """Free text (a log message, a traceback): every path or URL in it redacted."""
    if not text or ("/" not in text and "?" not in text):
        return text
    text = _QUERY.sub(lambda m: "?" + redact_query(m.group("query")), text)
    return _redact_paths(text)


def redact_url(url: str) -> str:
    """A request target, a path or an absolute URL (a Referer), redacted. The path is matched
    decoded, as Django routes it (`/pay%2F...` is a pay link too), then encoded again so that no
    control character reaches a log line; a fragment is dropped."""
    if not url:
        return url or ""
    head, sep, query = url.partition("?")
    head = quote(unquote(head.partition("#")[0]), safe=_PATH_SAFE)
    return _redact_paths(head) + ("?" + redact_query(query.partition("#")[0]) if sep else "")


class RedactFilter(logging.Filter):
    """Rewrites a record's message and traceback through `redact_text`; never drops a record.
    On a handler it covers every logger whose records reach that handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: its arguments are left out rather than trusted
            message = str(record.msg)
        record.msg, record.args = redact_text(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True
