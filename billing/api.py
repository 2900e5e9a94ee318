from __future__ import annotations

from decimal import Decimal

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Tariff
from billing.selectors import client_statement
from billing.services import clean_tariff, tariff_create
from clients.models import Client
from majismart.api import Pagination


class BlockSerializer(serializers.Serializer):
    up_to = serializers.DecimalField(max_digits=12, decimal_places=3, allow_null=True)
    price = serializers.DecimalField(max_digits=12, decimal_places=2)


class TariffSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    code = serializers.CharField()
    name = serializers.CharField()
    category = serializers.CharField(source="category.code")
    effective_from = serializers.DateField(required=False, help_text="Defaults to today.")
    fixed_charge = serializers.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    meter_rent = serializers.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    sewerage_percent = serializers.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0.00"))
    minimum_charge = serializers.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    blocks = BlockSerializer(many=True)


class TariffListCreateApi(APIView):
    required_capability = {"GET": "billing.view", "POST": "billing.manage_tariffs"}

    @extend_schema(responses=TariffSerializer(many=True))
    def get(self, request: Request) -> Response:
        qs = Tariff.objects.select_related("category").prefetch_related("blocks").order_by("category__code", "-effective_from")
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(TariffSerializer(page, many=True).data)

    @extend_schema(request=TariffSerializer, responses={201: TariffSerializer})
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise serializers.ValidationError({"detail": ["Send a JSON object."]})
        cleaned, errors = clean_tariff(dict(request.data))
        if errors:
            raise serializers.ValidationError(errors)
        tariff = tariff_create(actor=request.user, **cleaned)
        tariff = Tariff.objects.select_related("category").prefetch_related("blocks").get(pk=tariff.pk)
        return Response(TariffSerializer(tariff).data, status=status.HTTP_201_CREATED)


class ClientStatementApi(APIView):
    """`{balance, entries: [{date, kind, reference, amount, balance}]}` (shared/API.md)."""

    required_capability = "billing.view"

    @extend_schema(responses=inline_serializer("Statement", {
        "balance": serializers.DecimalField(max_digits=12, decimal_places=2),
        "entries": serializers.ListField(child=serializers.DictField())}))
    def get(self, request: Request, pk: int) -> Response:
        client = get_object_or_404(Client, pk=pk)
        statement = client_statement(client.pk)
        return Response({"balance": f"{statement.balance:.2f}", "entries": [
            {"date": ln.booked_on.isoformat(), "kind": ln.kind, "reference": ln.reference,
             "amount": f"{ln.amount:.2f}", "balance": f"{ln.balance:.2f}"} for ln in statement.lines]})
