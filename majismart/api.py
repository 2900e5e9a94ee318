"""The REST API's shared parts: pagination, the error shape and the domain-error mapping."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.http.response import HttpResponseBase
from rest_framework import exceptions, pagination, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from majismart.errors import ApplicationError
from majismart.exports import FORMATS, Column, chunked, export_response

MSG_NOT_OBJECT = "Send a JSON object."
MSG_UNKNOWN_FIELD = "Unknown field."
EXPORT_CHUNK = 500  # rows serialized at a time in a list's download


class BlankIsNull(serializers.Field):
    """A field that may be null takes "" as null too, as the shared cleaners read an empty value
    (no amount: 0, no date: today, no time: now)."""

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        return super().validate_empty_values(None if data == "" and self.allow_null else data)


class DecimalOrBlank(BlankIsNull, serializers.DecimalField):
    pass


class DateOrBlank(BlankIsNull, serializers.DateField):
    pass


class DateTimeOrBlank(BlankIsNull, serializers.DateTimeField):
    pass


class GroupedDecimalField(DecimalOrBlank):
    """A decimal as people type it: "1,664.00" is 1664.00 (the shared cleaners drop the thousands
    separators too; the schema's pattern says so: majismart.openapi)."""

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(data.replace(",", "") if isinstance(data, str) else data)


class AnyCaseChoiceField(serializers.ChoiceField):
    """A choice in any case ("Rollover"), as the shared cleaners take it."""

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(data.strip().lower() if isinstance(data, str) else data)


class CleanedInput(serializers.Serializer):
    """A request body checked by its serializer: `Input(data=request.data)`, `is_valid(raise_exception=True)`,
    `validated_data` is what the shared cleaner made of it.

    The declared fields are the schema's constraints (required, lengths, choices, ranges,
    decimals) and check each value's type and shape; `clean` (the cleaner the dashboard forms and
    CSV import use too) checks the values and makes the cleaned ones. For a field the cleaner
    refuses its messages are the answer, so every path keeps the same words; the field's own
    check answers only for what the cleaner let through but the schema forbids (an object for a
    name, too many characters for a column it used to cut).

    A body that is not an object is `{"detail": [body_message]}`; with `unknown_fields_refused`,
    any key that is not a field (nor one of `tolerated`: the representation's read-only fields,
    which may be sent back) is `{"name": ["Unknown field."]}`."""

    body_message: ClassVar[str] = MSG_NOT_OBJECT
    unknown_fields_refused: ClassVar[bool] = False
    tolerated: ClassVar[frozenset[str]] = frozenset()

    def clean(self, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """(cleaned values, {field: [messages]}) from the body as sent. Without a cleaner, the
        fields' own values."""
        return dict(self._typed), {}

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({"detail": [self.body_message]})
        return super().run_validation(data)

    def to_internal_value(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The body as sent (each key's last value, for a form), the fields' own verdicts kept
        for `validate`."""
        self._field_errors: dict[str, Any] = {}
        self._typed: dict[str, Any] = {}
        try:
            self._typed = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            self._field_errors = dict(exc.detail)  # type: ignore[arg-type]  # a serializer's errors: by field
        return dict(data.items())

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        cleaned, errors = self.clean(attrs)
        errors = dict(errors)
        for name, messages in self._field_errors.items():
            errors.setdefault(name, messages)
        if self.unknown_fields_refused:
            for name in sorted(set(attrs) - set(self.fields) - self.tolerated):
                errors[name] = [MSG_UNKNOWN_FIELD]
        if errors:
            raise serializers.ValidationError(errors)
        return cleaned


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def paginated(view: APIView, request: Request, items: Any, output: type[serializers.Serializer],
              **context: Any) -> Response:
    """A list endpoint's answer (`{"count", "next", "previous", "results"}`): the page the request
    asks for of `items`, each as `output` represents it (with `context`), by the view's
    `pagination_class`. With `?format=csv` (or `xlsx`): every row of `items` as a download, the
    same fields as the JSON results (shared/API.md)."""
    fmt = request.query_params.get("format", "")
    if fmt in FORMATS:
        return list_export(view, fmt, items, output, **context)  # type: ignore[return-value]
    paginator: Pagination = getattr(view, "pagination_class", Pagination)()
    page = paginator.paginate_queryset(items, request, view=view)
    return paginator.get_paginated_response(output(page, many=True, context=context).data)


def _kind(field: serializers.Field) -> str:
    if isinstance(field, serializers.DecimalField):
        return {2: "money", 3: "m3"}.get(field.decimal_places or 0, "text")
    if isinstance(field, serializers.DateTimeField):
        return "datetime"
    if isinstance(field, serializers.DateField):
        return "date"
    if isinstance(field, serializers.IntegerField):
        return "int"
    return "text"


def _cell(name: str, kind: str) -> Any:
    def read(row: dict[str, Any]) -> Any:
        value = row.get(name)
        if isinstance(value, (list, dict)):
            return json.dumps(value, ensure_ascii=False)
        if isinstance(value, str) and value and kind == "datetime":
            return datetime.fromisoformat(value)
        if isinstance(value, str) and value and kind == "date":
            return date.fromisoformat(value)
        return value
    return read


def list_export(view: APIView, fmt: str, items: Any, output: type[serializers.Serializer],
                **context: Any) -> HttpResponseBase:
    """Every row of a list endpoint as CSV or XLSX, serialized `EXPORT_CHUNK` at a time."""
    fields = output(context=context).fields
    columns = [Column(name, _cell(name, _kind(f)), _kind(f)) for name, f in fields.items()]

    def rows() -> Iterator[dict[str, Any]]:
        batch: list[Any] = []
        for item in chunked(items):
            batch.append(item)
            if len(batch) == EXPORT_CHUNK:
                yield from output(batch, many=True, context=context).data
                batch = []
        if batch:
            yield from output(batch, many=True, context=context).data

    name = getattr(view, "export_name", "") or view.__class__.__name__.removesuffix("View").lower() or "export"
    return export_response(fmt, name, columns, rows())


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error is `{"field": ["message"]}` or `{"detail": "..."}` (shared/API.md)."""
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "message_dict"):
            exc = exceptions.ValidationError(
                {("detail" if k == "__all__" else k): v for k, v in exc.message_dict.items()}
            )
        else:
            exc = exceptions.ValidationError({"detail": exc.messages})
    elif isinstance(exc, ApplicationError):
        exc = exceptions.ValidationError(exc.as_dict())
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        response.data = {"detail": response.data}
    return response
