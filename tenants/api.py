from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class ProviderDetailApi(APIView):
    """The provider this domain belongs to."""

    required_capability = "api.use"

    class OutputSerializer(serializers.Serializer):
        slug = serializers.CharField()
        name = serializers.CharField()
        domain = serializers.CharField()
        status = serializers.CharField()
        created = serializers.DateTimeField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(request.tenant).data)  # type: ignore[attr-defined]  # set by django-tenants' middleware
