"""Input PostgreSQL cannot hold, refused at the door with a 400 instead of a 500 deep inside.

A text column cannot contain a NUL character (U+0000): psycopg refuses the parameter, and a
jsonb value refuses the escape. DRF's CharField and Django's forms.CharField already reject it
(ProhibitNullCharactersValidator), but most of our inputs are read by hand (services shared by
the API and the pages, query parameters, COPY pipelines), so it is checked here once:

- every query string (`?search=%00`), for pages and the API alike (BadInputMiddleware);
- every API body, by the parsers (NulRefusingJSONParser and friends), field by field;
- whatever still reaches the database with one (a hand-read form field nobody checked) is
  answered 400 rather than 500 (BadInputMiddleware.process_exception).

Services whose errors a page shows next to its form check their own fields (nul_errors), so a
form comes back with the message under the field at fault.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.utils.datastructures import MultiValueDict
from rest_framework import parsers, serializers

log = logging.getLogger(__name__)

NUL = "\x00"
MSG_NUL = "Contains a NUL character (\\u0000), which text cannot hold: remove it."
# Enough to say what is wrong with a large body, without answering with one as large.
MAX_REPORTED = 50


def printable(text: str) -> str:
    """Text that arrived from outside (a payment provider's callback) made storable: each NUL
    becomes U+FFFD, the replacement character, so what was sent stays visible as odd."""
    return text.replace(NUL, "\ufffd") if NUL in text else text


def nul_fields(data: object, limit: int = MAX_REPORTED) -> list[str]:
    """Where `data` (parsed JSON, a QueryDict, form data) holds a NUL: "field", "blocks.0.price",
    "3.note" for a list body; "detail" for a NUL in a key itself. Iterative: a deeply nested
    body must not exhaust the stack."""
    found: list[str] = []
    stack: list[tuple[str, object]] = [("", data)]
    while stack and len(found) < limit:
        path, value = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                found.append(path or "detail")
        elif isinstance(value, MultiValueDict):
            stack.extend(_children(path, ((k, v) for k, values in value.lists() for v in values), found))
        elif isinstance(value, dict):
            stack.extend(_children(path, value.items(), found))
        elif isinstance(value, (list, tuple)):
            stack.extend(_children(path, enumerate(value), found))
    return sorted(set(found), key=found.index)


def _children(path: str, items: Any, found: list[str]) -> list[tuple[str, object]]:
    out = []
    for key, value in items:
        key = str(key)
        if NUL in key:
            found.append("detail")
            continue
        out.append((f"{path}.{key}" if path else key, value))
    return out[::-1]  # popped in order


def nul_errors(data: object) -> dict[str, list[str]]:
    """The form-level errors for NULs in `data`: one per top-level field ("blocks.0.price" is
    reported on "blocks"), for services whose errors a page shows next to its fields."""
    return {path.split(".", 1)[0]: [MSG_NUL] for path in nul_fields(data)}


def refuse_nul(data: object) -> None:
    """DRF's 400 `{"field": ["message"]}` for every NUL in `data`."""
    fields = nul_fields(data)
    if fields:
        raise serializers.ValidationError({name: [MSG_NUL] for name in fields})


# --- the API's bodies --------------------------------------------------------------------------
class _NulRefusing:
    """A view that reports bad text item by item (a bulk endpoint whose contract is "valid rows
    kept, invalid rows reported") sets `nul_checked_by_view = True` and checks it itself."""

    def parse(self, stream, media_type=None, parser_context=None):  # type: ignore[no-untyped-def]
        parsed = super().parse(stream, media_type, parser_context)  # type: ignore[misc]
        view = (parser_context or {}).get("view")
        if not getattr(view, "nul_checked_by_view", False):
            refuse_nul(parsed.data if isinstance(parsed, parsers.DataAndFiles) else parsed)
        return parsed


class NulRefusingJSONParser(_NulRefusing, parsers.JSONParser):
    pass


class NulRefusingFormParser(_NulRefusing, parsers.FormParser):
    pass


class NulRefusingMultiPartParser(_NulRefusing, parsers.MultiPartParser):
    pass


# --- query strings, and the last line ------------------------------------------------------------
def is_nul_error(exc: BaseException) -> bool:
    """A database error caused by a NUL: psycopg refusing a text parameter, PostgreSQL refusing
    0x00 in text (22021) or \\u0000 in jsonb (22P05)."""
    if not isinstance(exc, DataError):
        return False
    cause = exc.__cause__
    return "0x00" in str(exc) or getattr(cause, "sqlstate", None) == "22P05"


def refused(request: HttpRequest, fields: list[str]) -> HttpResponse:
    """400: JSON `{"field": [message]}` on the API, a page naming the fields elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({name: [MSG_NUL] for name in fields or ["detail"]}, status=400)
    response = TemplateResponse(request, "400.html", {"fields": fields, "message": MSG_NUL}, status=400)
    return response.render()


class BadInputMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        # A substring test first: almost no request has one, and those pay nothing more.
        if "%00" in query or NUL in query:
            fields = nul_fields(request.GET)
            if fields:
                return refused(request, fields)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_nul_error(exception):
            return None
        # The statement failed, so its transaction was rolled back: nothing was stored.
        log.warning("NUL character refused by the database on %s %s", request.method, request.path)
        return refused(request, [])
