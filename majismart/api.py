"""The REST API's shared parts: pagination, the error shape and the domain-error mapping."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, pagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from majismart.errors import ApplicationError


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


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
