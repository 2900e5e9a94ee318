from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clients.models import Client
from majismart.api import CleanedInput, DateTimeOrBlank, GroupedDecimalField, Pagination, paginated
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


class ManualPaymentInput(CleanedInput):
    """A payment typed by staff, checked by the cleaner the dashboard's cash desk uses too."""

    client = serializers.IntegerField(min_value=1)
    amount = GroupedDecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"), help_text="KES")
    method = serializers.ChoiceField(choices=list(MANUAL_METHODS))
    reference = serializers.CharField(max_length=64, help_text="The bank's or the receipt book's; the same "
                                                               "reference again returns the payment recorded.")
    paid_at = DateTimeOrBlank(required=False, allow_null=True,
                              help_text="Defaults to now; not in the future nor before 2000.")

    def clean(self, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        return manual_payment_clean(raw)


class PaymentListCreateApi(APIView):
    """`GET, POST /payments/` (shared/API.md): cash and bank payments recorded by staff; every
    payment listed with its allocations."""

    export_name = "payments"  # ?format=csv|xlsx: payments-<date>.csv
    required_capability = {"GET": "payments.view", "POST": "payments.record"}
    pagination_class = Pagination

    @extend_schema(responses=PaymentSerializer(many=True))
    def get(self, request: Request) -> Response:
        qs = Payment.objects.prefetch_related("allocations__invoice").order_by("-paid_at", "-id")
        return paginated(self, request, qs, PaymentSerializer)

    @extend_schema(request=ManualPaymentInput, responses={201: PaymentSerializer, 200: PaymentSerializer})
    def post(self, request: Request) -> Response:
        body = ManualPaymentInput(data=request.data)
        body.is_valid(raise_exception=True)
        cleaned = body.validated_data
        recorded = payment_record(method=cleaned["method"], receipt=cleaned["reference"], amount=cleaned["amount"],
                                  paid_at=cleaned["paid_at"], client=cleaned["client"], actor=request.user)
        payment = Payment.objects.prefetch_related("allocations__invoice").get(pk=recorded.payment.pk)
        if not recorded.created and (payment.client_id != cleaned["client"].pk or payment.amount != cleaned["amount"]):
            raise serializers.ValidationError({"reference": [
                f"Reference {cleaned['reference']} is already recorded for another {cleaned['method']} payment."]})
        return Response(PaymentSerializer(payment).data,
                        status=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK)


class PaymentReverseInput(CleanedInput):
    """Why a payment recorded in error is undone."""

    # What the reason must be (said, no NUL) payment_reverse checks, with the payment's state.
    reason = serializers.CharField(required=False, allow_blank=True, allow_null=True,
                                   help_text="Why the payment is reversed (required: an empty one is refused).")


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
        # A body that is no object says no reason: payment_reverse answers so, as for an empty one.
        body = PaymentReverseInput(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        try:
            payment_reverse(payment=payment, reason=str(body.validated_data.get("reason") or ""), actor=request.user)
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
