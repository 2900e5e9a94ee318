"""The REST endpoints of field work (shared/API.md): service requests, work orders."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fieldwork.models import ServiceRequest, WorkOrder
from fieldwork.selectors import request_queue, work_orders
from fieldwork.services import (
    MSG_REASON_NEEDED,
    service_request_create,
    work_order_complete,
    work_order_not_done,
)
from fieldwork.validation import MAX_DESCRIPTION, MAX_NOTE, clean_completion, clean_request
from majismart.api import CleanedInput, DateTimeOrBlank, DecimalOrBlank, Pagination, paginated


def _validated(serializer: type[CleanedInput], request: Request) -> dict[str, Any]:
    body = serializer(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data


class ServiceRequestOutput(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    client = serializers.IntegerField(source="client_id")
    account_number = serializers.CharField(source="client.account_number")
    kind = serializers.CharField()
    channel = serializers.CharField()
    description = serializers.CharField()
    status = serializers.CharField()
    due_by = serializers.DateTimeField()
    assigned_to = serializers.EmailField(source="assigned_to.email", allow_null=True, default=None)
    resolution = serializers.CharField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    created = serializers.DateTimeField()


class ServiceRequestInput(CleanedInput):
    """A request's fields, checked by fieldwork.validation.clean_request (the staff form's too)."""

    unknown_fields_refused = True

    client = serializers.IntegerField(help_text="The client's id.")
    kind = serializers.ChoiceField(choices=ServiceRequest.Kind.choices)
    description = serializers.CharField(max_length=MAX_DESCRIPTION)
    channel = serializers.ChoiceField(choices=ServiceRequest.Channel.choices, required=False,
                                      help_text="How it reached the provider; api when absent.")

    def clean(self, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        return clean_request(raw, channel_default=ServiceRequest.Channel.API)


class ServiceRequestListCreateApi(APIView):
    export_name = "service-requests"  # ?format=csv|xlsx: service-requests-<date>.csv
    required_capability = {"GET": "service_requests.view", "POST": "service_requests.manage"}
    pagination_class = Pagination

    @extend_schema(responses=ServiceRequestOutput(many=True), parameters=[
        OpenApiParameter("status", str, description="open, in_progress, resolved, cancelled or active"),
        OpenApiParameter("kind", str), OpenApiParameter("assigned_to", str, description="me, none or a user id")])
    def get(self, request: Request) -> Response:
        q = request.query_params
        qs = request_queue(status=q.get("status", ""), kind=q.get("kind", ""), assignee=q.get("assigned_to", ""),
                           user=request.user)
        return paginated(self, request, qs, ServiceRequestOutput)

    @extend_schema(request=ServiceRequestInput, responses={201: ServiceRequestOutput})
    def post(self, request: Request) -> Response:
        made = service_request_create(actor=request.user, **_validated(ServiceRequestInput, request))
        made = ServiceRequest.objects.select_related("client", "assigned_to").get(pk=made.pk)
        return Response(ServiceRequestOutput(made).data, status=status.HTTP_201_CREATED)


class WorkOrderOutput(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    kind = serializers.CharField()
    status = serializers.CharField()
    client = serializers.IntegerField(source="client_id")
    account_number = serializers.CharField(source="client.account_number")
    zone = serializers.CharField(source="client.zone.code", allow_null=True, default=None)
    meter = serializers.CharField(source="meter.serial", allow_null=True, default=None)
    service_request = serializers.IntegerField(source="service_request_id", allow_null=True)
    instructions = serializers.CharField()
    balance = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    due_on = serializers.DateField()
    assigned_to = serializers.EmailField(source="assigned_to.email", allow_null=True, default=None)
    done_at = serializers.DateTimeField(allow_null=True)
    reading = serializers.IntegerField(source="reading_id", allow_null=True)
    note = serializers.CharField()
    not_done_reason = serializers.CharField()


class WorkOrderCompleteInput(CleanedInput):
    """Checked by fieldwork.validation.clean_completion; the reading itself by the readings pipeline."""

    unknown_fields_refused = True

    reading = DecimalOrBlank(max_digits=12, decimal_places=3, required=False, allow_null=True,
                             help_text="The meter's reading in m³ (required when the order has a meter).")
    done_at = DateTimeOrBlank(required=False, allow_null=True, help_text="When the work was done; now when absent.")
    note = serializers.CharField(max_length=MAX_NOTE, required=False, allow_blank=True)

    def clean(self, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        return clean_completion(raw)


class WorkOrderNotDoneInput(CleanedInput):
    unknown_fields_refused = True

    reason = serializers.CharField(max_length=300, help_text="Why the work could not be done.")

    def clean(self, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        reason = raw.get("reason")
        reason = reason.strip() if isinstance(reason, str) else reason
        return {"reason": reason}, {} if reason else {"reason": [MSG_REASON_NEEDED]}


class WorkOrderListApi(APIView):
    export_name = "work-orders"  # ?format=csv|xlsx: work-orders-<date>.csv
    required_capability = "work_orders.view"
    pagination_class = Pagination

    @extend_schema(responses=WorkOrderOutput(many=True), parameters=[
        OpenApiParameter("status", str), OpenApiParameter("kind", str),
        OpenApiParameter("assigned_to", str, description="me, none or a user id")])
    def get(self, request: Request) -> Response:
        q = request.query_params
        qs = work_orders(status=q.get("status", ""), kind=q.get("kind", ""), assigned_to=q.get("assigned_to", ""),
                         user=request.user)
        return paginated(self, request, qs, WorkOrderOutput)


def _order_out(order: WorkOrder) -> dict:
    order = work_orders().get(pk=order.pk)
    return WorkOrderOutput(order).data


class WorkOrderCompleteApi(APIView):
    required_capability = "work_orders.complete"

    @extend_schema(request=WorkOrderCompleteInput, responses=WorkOrderOutput)
    def post(self, request: Request, pk: int) -> Response:
        order = get_object_or_404(WorkOrder, pk=pk)
        cleaned = _validated(WorkOrderCompleteInput, request)
        return Response(_order_out(work_order_complete(order=order, actor=request.user, **cleaned)))


class WorkOrderNotDoneApi(APIView):
    required_capability = "work_orders.complete"

    @extend_schema(request=WorkOrderNotDoneInput, responses=WorkOrderOutput)
    def post(self, request: Request, pk: int) -> Response:
        order = get_object_or_404(WorkOrder, pk=pk)
        cleaned = _validated(WorkOrderNotDoneInput, request)
        return Response(_order_out(work_order_not_done(order=order, actor=request.user, **cleaned)))
