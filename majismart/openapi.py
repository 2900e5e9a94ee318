"""The OpenAPI schema's shared parts: the error bodies (shared/API.md) and an AutoSchema that
lists, on every operation, the errors the layers around its view can answer.

A view declares what only it knows (its success bodies, a 400 on a GET whose filters are
checked); the statuses every view shares come from here, from what the operation is:
- 401 from the authenticators (no or a bad `Authorization: Bearer` key),
- 403 from the role check, and from the suspended-provider middleware,
- 404 for an id in the path (anything outside the caller's provider too) and for a page past
  the end of a paginated list,
- 400 on every operation (a body, or a query string holding a NUL character), 415 for a request body in a media type it cannot parse,
- 429 when the view has throttles.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

MSG_400 = ('Invalid input: `{"field": ["message"]}` for each field at fault, or `{"detail": ...}` '
           "for the request as a whole.")
MSG_401 = "No valid credentials: send `Authorization: Bearer <api key>` (or use a staff session)."
MSG_403 = "The key's or user's role may not do this, or the provider's account is suspended."
MSG_404_OBJECT = "Nothing with this id on this provider."
MSG_404_PAGE = "No such page of this list."
MSG_415 = "A request body in a media type this operation does not accept; send JSON."
MSG_429 = "Too many requests: wait the seconds in `Retry-After`."
MSG_FORMAT = ("A download of every row the other filters match (not one page): `csv` (UTF-8, a header row of the "
              "results' field names) or `xlsx`. Amounts are plain numbers, times Africa/Nairobi.")
DOWNLOADS = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


class ErrorSerializer(serializers.Serializer):
    """`{"detail": "..."}`: what went wrong, for the request as a whole."""

    detail = serializers.CharField()


class ValidationErrorSerializer(serializers.Serializer):
    """`{"field": ["message"]}` for each field at fault, or `{"detail": ...}` for the request as a
    whole (shared/API.md's error shape)."""


class ValidationErrorSchema(OpenApiSerializerExtension):
    """The 400 body has one key per field at fault, which a DRF serializer cannot say: a map of
    messages (a list of strings; per-item errors, objects, for a list field; a string for a body
    that could not be parsed)."""

    target_class = ValidationErrorSerializer

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        messages = {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "object"}]}}
        return {
            "type": "object",
            "description": 'One key per field at fault with its messages, e.g. `{"field": ["message"]}`; '
                           "`detail` for the request as a whole.",
            "additionalProperties": {"anyOf": [messages, {"type": "string"}, {"type": "object"}]},
            "example": {"amount": ["Enter an amount in KES above zero, with at most 2 decimals."]},
        }


class GroupedDecimalSchema(OpenApiSerializerFieldExtension):
    """A decimal in a request may group its thousands ("1,664.00"), as the cleaners accept."""

    target_class = "majismart.api.GroupedDecimalField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        field = self.target
        if direction == "request" and field.max_whole_digits:
            schema["pattern"] = (rf"^-?(?:\d{{0,{field.max_whole_digits}}}|\d{{1,3}}(?:,\d{{3}})+)"
                                 rf"(?:\.\d{{0,{field.decimal_places}}})?$")
        return schema


BAD_REQUEST = OpenApiResponse(ValidationErrorSerializer, description=MSG_400)
NOT_FOUND = OpenApiResponse(ErrorSerializer, description=MSG_404_OBJECT)

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, plus the errors every operation shares (module docstring).
    Lists are paginated when their view names its `pagination_class` (the views paginate by
    hand, as APIViews: the attribute is what they paginate with)."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        for code, response in self._error_responses(operation).items():
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(response, str(code))
        operation["responses"] = dict(sorted(responses.items()))
        if self.method == "GET" and self._is_paginated_list(operation):
            self._add_downloads(operation)
        return operation

    @staticmethod
    def _is_paginated_list(operation: dict[str, Any]) -> bool:
        return any(p.get("in") == "query" and p.get("name") == "page" for p in operation.get("parameters", []))

    @staticmethod
    def _add_downloads(operation: dict[str, Any]) -> None:
        """A paginated list also answers `?format=csv|xlsx` (majismart.api.paginated): every row
        the filters match, as a file, with the JSON results' fields as its columns."""
        operation["parameters"].append({
            "in": "query", "name": "format", "required": False,
            "schema": {"type": "string", "enum": list(DOWNLOADS)},
            "description": MSG_FORMAT})
        content = operation["responses"]["200"].setdefault("content", {})
        for media_type in DOWNLOADS.values():
            content[media_type] = {"schema": {"type": "string", "format": "binary"}}

    def _error_responses(self, operation: dict[str, Any]) -> dict[int, OpenApiResponse]:
        params = {(p["in"], p["name"]) for p in operation.get("parameters", []) if "in" in p}
        errors: dict[int, OpenApiResponse] = {}
        # Every operation: a body or a query string can be refused (a NUL character in any query
        # value is refused before the view runs: majismart.badinput).
        errors[400] = BAD_REQUEST
        if self.view.get_authenticators():
            errors[401] = OpenApiResponse(ErrorSerializer, description=MSG_401)
        errors[403] = OpenApiResponse(ErrorSerializer, description=MSG_403)
        if any(where == "path" for where, _ in params):
            errors[404] = NOT_FOUND
        elif ("query", "page") in params:
            errors[404] = OpenApiResponse(ErrorSerializer, description=MSG_404_PAGE)
        if "requestBody" in operation:
            errors[415] = OpenApiResponse(ErrorSerializer, description=MSG_415)
        if self.view.get_throttles():
            errors[429] = OpenApiResponse(ErrorSerializer, description=MSG_429)
        return errors
