from __future__ import annotations

from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import APIKeyPrincipal


class WhoAmIApi(APIView):
    """Who the request authenticated as, on which provider."""

    required_capability = "api.use"

    @extend_schema(
        responses=inline_serializer(
            "WhoAmI",
            {"kind": serializers.CharField(), "name": serializers.CharField(),
             "role": serializers.CharField(), "provider": serializers.CharField()},
        )
    )
    def get(self, request: Request) -> Response:
        principal = request.user
        if isinstance(principal, APIKeyPrincipal):
            kind, name = "api_key", principal.api_key.name
        else:
            kind, name = "user", principal.email
        return Response(
            {"kind": kind, "name": name, "role": principal.role, "provider": connection.schema_name}
        )
