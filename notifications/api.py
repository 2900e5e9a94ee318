"""`GET /api/v1/messages/`: the delivery log for a provider's own systems (what was sent to
whom and whether it arrived), recipients masked as on the dashboard."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from majismart.api import Pagination, paginated
from notifications.selectors import message_search
from notifications.text import mask_recipient


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    channel = serializers.CharField()
    event = serializers.CharField()
    client = serializers.IntegerField(source="client_id", allow_null=True)
    recipient = serializers.SerializerMethodField()
    status = serializers.CharField()
    note = serializers.CharField()
    segments = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=10, decimal_places=4, allow_null=True)
    created = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)

    def get_recipient(self, obj: object) -> str:
        return mask_recipient(obj.recipient) if obj.recipient else ""  # type: ignore[attr-defined]


class MessageListApi(APIView):
    export_name = "messages"  # ?format=csv|xlsx: messages-<date>.csv
    required_capability = "messages.view"
    pagination_class = Pagination

    @extend_schema(responses=MessageSerializer(many=True), parameters=[
        OpenApiParameter(name, str, required=False) for name in ("client", "status", "channel", "event", "from", "to")])
    def get(self, request: Request) -> Response:
        return paginated(self, request, message_search(request.query_params), MessageSerializer)
