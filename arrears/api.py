"""`/payment-plans/`, `/disconnections/` (shared/API.md): thin views over arrears' services and selectors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from arrears.models import Disconnection, PaymentPlan
from arrears.selectors import candidates, disconnections_list, plans_list
from arrears.services import clean_plan, disconnection_start, plan_create
from clients.models import Client
from majismart.api import CleanedInput, DecimalOrBlank, Pagination, paginated


class InstalmentOutput(serializers.Serializer):
    number = serializers.IntegerField(help_text="0 is the down payment")
    due_date = serializers.DateField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    paid = serializers.DecimalField(max_digits=12, decimal_places=2)
    status = serializers.CharField(help_text="due, paid or missed")


class PlanOutput(serializers.Serializer):
    id = serializers.IntegerField()
    client = serializers.IntegerField(source="client_id")
    account_number = serializers.CharField(source="client.account_number")
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    down_payment = serializers.DecimalField(max_digits=12, decimal_places=2)
    paid = serializers.DecimalField(max_digits=12, decimal_places=2)
    status = serializers.CharField(help_text="requested, active, completed, broken or declined")
    first_due = serializers.DateField()
    created = serializers.DateTimeField()
    instalments = InstalmentOutput(many=True)


class PlanInput(CleanedInput):
    """A plan for the client's whole balance, checked by the cleaner the dashboard's form uses too."""

    client = serializers.IntegerField(min_value=1)
    instalments = serializers.IntegerField(min_value=2, max_value=60, help_text="Monthly instalments")
    first_due = serializers.DateField(help_text="Today or later; the others monthly after it")
    down_payment = DecimalOrBlank(max_digits=12, decimal_places=2, min_value=Decimal("0"), required=False,
                                  allow_null=True, help_text="KES, due at once (default 0)")

    def clean(self, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        return clean_plan(raw)


class PaymentPlanListCreateApi(APIView):
    export_name = "payment-plans"  # ?format=csv|xlsx: payment-plans-<date>.csv
    required_capability = "plans.manage"
    pagination_class = Pagination

    @extend_schema(responses=PlanOutput(many=True))
    def get(self, request: Request) -> Response:
        qs = plans_list().prefetch_related("instalments")
        return paginated(self, request, qs, PlanOutput)

    @extend_schema(request=PlanInput, responses={201: PlanOutput})
    def post(self, request: Request) -> Response:
        body = PlanInput(data=request.data)
        body.is_valid(raise_exception=True)
        plan = plan_create(actor=request.user, **body.validated_data)
        plan = PaymentPlan.objects.select_related("client").prefetch_related("instalments").get(pk=plan.pk)
        return Response(PlanOutput(plan).data, status=status.HTTP_201_CREATED)


class PaymentPlanDetailApi(APIView):
    required_capability = "plans.manage"

    @extend_schema(responses=PlanOutput)
    def get(self, request: Request, pk: int) -> Response:
        plan = get_object_or_404(PaymentPlan.objects.select_related("client").prefetch_related("instalments"), pk=pk)
        return Response(PlanOutput(plan).data)


class CandidateOutput(serializers.Serializer):
    client = serializers.IntegerField(source="pk")
    account_number = serializers.CharField()
    balance = serializers.DecimalField(max_digits=12, decimal_places=2)
    oldest_due = serializers.DateField()
    days_overdue = serializers.SerializerMethodField()
    last_payment = serializers.DateTimeField(allow_null=True)

    def get_days_overdue(self, obj: Client) -> int:
        return (self.context["today"] - obj.oldest_due).days  # type: ignore[attr-defined]


class DisconnectionCandidatesApi(APIView):
    export_name = "disconnection-candidates"  # ?format=csv|xlsx: disconnection-candidates-<date>.csv
    required_capability = "disconnections.view"
    pagination_class = Pagination

    @extend_schema(responses=CandidateOutput(many=True))
    def get(self, request: Request) -> Response:
        today = timezone.localdate()
        return paginated(self, request, candidates(today=today), CandidateOutput, today=today)


class DisconnectionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    client = serializers.IntegerField(source="client_id")
    account_number = serializers.CharField(source="client.account_number")
    status = serializers.CharField()
    notice_date = serializers.DateField(help_text="The date given in the notice: the work order is opened on it")
    balance = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="Owed when started")
    fee = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="Reconnection fee charged")
    disconnect_order = serializers.CharField(source="disconnect_order.reference", allow_null=True, default=None)
    reconnect_order = serializers.CharField(source="reconnect_order.reference", allow_null=True, default=None)
    created = serializers.DateTimeField()


class DisconnectionInput(CleanedInput):
    client = serializers.IntegerField(min_value=1)

    def clean(self, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        value = raw.get("client")
        client = None
        if isinstance(value, int) and not isinstance(value, bool) or isinstance(value, str) and value.strip().isdigit():
            client = Client.objects.filter(pk=int(value)).first()
        if client is None:
            return {}, {"client": ["Choose a client of this provider."]}
        return {"client": client}, {}


class DisconnectionListCreateApi(APIView):
    export_name = "disconnections"  # ?format=csv|xlsx: disconnections-<date>.csv
    required_capability = {"GET": "disconnections.view", "POST": "disconnections.manage"}
    pagination_class = Pagination

    @extend_schema(responses=DisconnectionOutput(many=True))
    def get(self, request: Request) -> Response:
        return paginated(self, request, disconnections_list(), DisconnectionOutput)

    @extend_schema(request=DisconnectionInput, responses={201: DisconnectionOutput})
    def post(self, request: Request) -> Response:
        body = DisconnectionInput(data=request.data)
        body.is_valid(raise_exception=True)
        item = disconnection_start(actor=request.user, **body.validated_data)
        item = Disconnection.objects.select_related("client", "disconnect_order", "reconnect_order").get(pk=item.pk)
        return Response(DisconnectionOutput(item).data, status=status.HTTP_201_CREATED)
