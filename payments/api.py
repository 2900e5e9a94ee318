from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clients.models import Client
from majismart.api import Pagination
from payments.models import Payment
from payments.office import MANUAL_METHODS, manual_payment_clean
from payments.services import payment_record


class AllocationSerializer(serializers.Serializer):
    invoice = serializers.IntegerField(source="invoice_id")
    number = serializers.CharField(source="invoice.number")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)


class PaymentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    receipt = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    method = serializers.CharField()
    client = serializers.IntegerField(source="client_id", allow_null=True)
    status = serializers.CharField()
    paid_at = serializers.DateTimeField()
    allocations = AllocationSerializer(many=True)


class ManualPaymentInput(serializers.Serializer):
    client = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    method = serializers.ChoiceField(choices=list(MANUAL_METHODS))
    reference = serializers.CharField()
    paid_at = serializers.DateTimeField(required=False, help_text="Defaults to now.")


def _clean(data: object) -> tuple[dict, dict[str, list[str]]]:
    return manual_payment_clean(data)


class PaymentListCreateApi(APIView):
    """`GET, POST /payments/` (shared/API.md): cash and bank payments recorded by staff; every
    payment listed with its allocations."""

    required_capability = {"GET": "payments.view", "POST": "payments.record"}
    pagination_class = Pagination

    @extend_schema(responses=PaymentSerializer(many=True))
    def get(self, request: Request) -> Response:
        qs = Payment.objects.prefetch_related("allocations__invoice").order_by("-paid_at", "-id")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(PaymentSerializer(page, many=True).data)

    @extend_schema(request=ManualPaymentInput, responses={201: PaymentSerializer, 200: PaymentSerializer})
    def post(self, request: Request) -> Response:
        cleaned, errors = _clean(request.data)
        if errors:
            raise serializers.ValidationError(errors)
        recorded = payment_record(method=cleaned["method"], receipt=cleaned["reference"], amount=cleaned["amount"],
                                  paid_at=cleaned["paid_at"], client=cleaned["client"], actor=request.user)
        payment = Payment.objects.prefetch_related("allocations__invoice").get(pk=recorded.payment.pk)
        if not recorded.created and (payment.client_id != cleaned["client"].pk or payment.amount != cleaned["amount"]):
            raise serializers.ValidationError({"reference": [
                f"Reference {cleaned['reference']} is already recorded for another {cleaned['method']} payment."]})
        return Response(PaymentSerializer(payment).data,
                        status=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK)


class PaymentReverseInput(serializers.Serializer):
    reason = serializers.CharField()


class PaymentReverseApi(APIView):
    """`POST /payments/{id}/reverse/` (extension): owner or manager undoes a payment recorded in
    error; a reversing ledger entry, allocations undone, audited."""

    required_capability = "payments.reverse"

    @extend_schema(request=PaymentReverseInput, responses=PaymentSerializer)
    def post(self, request: Request, pk: int) -> Response:
        from django.core.exceptions import ValidationError
        from django.shortcuts import get_object_or_404

        from payments.services import payment_reverse

        payment = get_object_or_404(Payment, pk=pk)
        reason = request.data.get("reason", "") if isinstance(request.data, dict) else ""
        try:
            payment_reverse(payment=payment, reason=str(reason or ""), actor=request.user)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        payment = Payment.objects.prefetch_related("allocations__invoice").get(pk=pk)
        return Response(PaymentSerializer(payment).data)


class PayLinkApi(APIView):
    """`GET /clients/{id}/pay-link/` (extension): the signed, expiring pay link for a client's
    account, for a provider's own messages (bills sent by MajiSmart carry it already)."""

    required_capability = "payments.view"

    @extend_schema(responses=inline_serializer("PayLink", {
        "client": serializers.IntegerField(), "account_number": serializers.CharField(),
        "url": serializers.URLField(), "expires_in_days": serializers.IntegerField()}))
    def get(self, request: Request, pk: int) -> Response:
        from django.conf import settings
        from django.shortcuts import get_object_or_404

        from payments.collect import pay_link_url

        client = get_object_or_404(Client.objects.exclude(status=Client.Status.CLOSED), pk=pk)
        return Response({"client": client.pk, "account_number": client.account_number, "url": pay_link_url(client),
                         "expires_in_days": settings.PAY_LINK_MAX_AGE_DAYS})
