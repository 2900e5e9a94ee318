from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import audit
from billing.documents import invoice_pdf, pdf_response
from billing.fees import clean_charge, clean_fee, fee_charge, fee_create
from billing.models import BillingRun, CreditNote, Fee, Invoice, Tariff
from billing.runs import (
    MSG_PERIOD_FORMAT,
    PERIOD_RE,
    billing_run_finalize,
    billing_run_recompute,
    billing_run_start,
    period_parse,
)
from billing.selectors import (
    INVOICE_STATES,
    client_balance,
    client_statement,
    invoice_search,
    invoices_with_dues,
)
from billing.services import (
    MSG_CREDIT_NOT_ISSUED,
    adjustment_post,
    clean_amount_and_reason,
    clean_tariff,
    credit_note_create,
    tariff_create,
)
from clients.models import Client
from majismart.api import (
    CleanedInput,
    DateOrBlank,
    DecimalOrBlank,
    GroupedDecimalField,
    Pagination,
    paginated,
)
from majismart.openapi import BAD_REQUEST


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


def _amount_field(places: int = 2, digits: int = 12, **kwargs: Any) -> serializers.DecimalField:
    return DecimalOrBlank(max_digits=digits, decimal_places=places, min_value=Decimal(0), **kwargs)


class BlockInput(serializers.Serializer):
    up_to = _amount_field(3, allow_null=True, required=False,
                          help_text="m³ the block goes up to, above the previous block's; null (or absent) for the last.")
    price = _amount_field(help_text="KES per m³")


class TariffInput(CleanedInput):
    """A tariff version, checked by the shared tariff cleaner (the dashboard page's too)."""

    code = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=100)
    category = serializers.CharField(help_text="Category code, e.g. domestic.")
    effective_from = DateOrBlank(required=False, allow_null=True,
                                 help_text="Defaults to today; one version per category and day.")
    fixed_charge = _amount_field(required=False, allow_null=True, help_text="KES; 0 when absent.")
    meter_rent = _amount_field(required=False, allow_null=True, help_text="KES; 0 when absent.")
    sewerage_percent = _amount_field(digits=5, max_value=Decimal(500), required=False, allow_null=True,
                                     help_text="% of the water charge, 0–500; 0 when absent.")
    minimum_charge = _amount_field(required=False, allow_null=True, help_text="KES; 0 when absent.")
    blocks = serializers.ListField(child=BlockInput(), min_length=1,
                                   help_text="In order of up_to; the last one open (up_to null).")

    def clean(self, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        return clean_tariff(raw)


class TariffListCreateApi(APIView):
    export_name = "tariffs"  # ?format=csv|xlsx: tariffs-<date>.csv
    required_capability = {"GET": "billing.view", "POST": "billing.manage_tariffs"}
    pagination_class = Pagination

    @extend_schema(responses=TariffSerializer(many=True))
    def get(self, request: Request) -> Response:
        qs = Tariff.objects.select_related("category").prefetch_related("blocks").order_by("category__code", "-effective_from")
        return paginated(self, request, qs, TariffSerializer)

    @extend_schema(request=TariffInput, responses={201: TariffSerializer})
    def post(self, request: Request) -> Response:
        body = TariffInput(data=request.data)
        body.is_valid(raise_exception=True)
        tariff = tariff_create(actor=request.user, **body.validated_data)
        tariff = Tariff.objects.select_related("category").prefetch_related("blocks").get(pk=tariff.pk)
        return Response(TariffSerializer(tariff).data, status=status.HTTP_201_CREATED)


def _running_balance() -> serializers.DecimalField:
    # A sum of ledger entries, each within 12 digits: the sum itself has no such bound.
    return serializers.DecimalField(max_digits=None, decimal_places=2)


class StatementEntrySerializer(serializers.Serializer):
    date = serializers.DateField()
    kind = serializers.CharField()
    reference = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    balance = _running_balance()


class ClientStatementApi(APIView):
    """`{balance, entries: [{date, kind, reference, amount, balance}]}` (shared/API.md)."""

    required_capability = "billing.view"

    @extend_schema(responses=inline_serializer("Statement", {
        "balance": _running_balance(),
        "entries": StatementEntrySerializer(many=True)}))
    def get(self, request: Request, pk: int) -> Response:
        client = get_object_or_404(Client, pk=pk)
        audit(actor=request.user, action="statement.exported", object_repr=client.account_number, target=client,
              format="json")
        statement = client_statement(client.pk)
        return Response({"balance": f"{statement.balance:.2f}", "entries": [
            {"date": ln.booked_on.isoformat(), "kind": ln.kind, "reference": ln.reference,
             "amount": f"{ln.amount:.2f}", "balance": f"{ln.balance:.2f}"} for ln in statement.lines]})


# --- billing runs ------------------------------------------------------------------------------
class BillingRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    period = serializers.CharField()
    status = serializers.CharField()
    invoice_count = serializers.IntegerField()
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    as_of = serializers.DateField()
    computed_at = serializers.DateTimeField()
    finalized_at = serializers.DateTimeField(allow_null=True)
    summary = serializers.DictField(help_text="Preview: billed, estimated, skipped with reasons, flagged readings "
                                              "pending, totals by category, warnings.")


class PeriodInput(CleanedInput):
    """The month to bill, checked as the billing run checks it."""

    period = serializers.RegexField(r"^\d{4}-(0[1-9]|1[0-2])$", help_text="YYYY-MM, from 2000-01, not in the future")

    def clean(self, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        try:
            return {"period": period_parse(raw.get("period")).code}, {}
        except DjangoValidationError as exc:
            return {}, exc.message_dict


class BillingRunListCreateApi(APIView):
    """`POST {period}` → 201 with the new draft, or 200 with the existing run of that period."""

    export_name = "billing-runs"  # ?format=csv|xlsx: billing-runs-<date>.csv
    required_capability = {"GET": "billing.view", "POST": "billing.run"}
    pagination_class = Pagination

    @extend_schema(responses=BillingRunSerializer(many=True))
    def get(self, request: Request) -> Response:
        return paginated(self, request, BillingRun.objects.order_by("-period"), BillingRunSerializer)

    @extend_schema(request=PeriodInput, responses={201: BillingRunSerializer, 200: BillingRunSerializer})
    def post(self, request: Request) -> Response:
        body = PeriodInput(data=request.data)
        body.is_valid(raise_exception=True)
        run, created = billing_run_start(period=body.validated_data["period"], actor=request.user)
        return Response(BillingRunSerializer(run).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class BillingRunDetailApi(APIView):
    required_capability = "billing.view"

    @extend_schema(responses=BillingRunSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(BillingRunSerializer(get_object_or_404(BillingRun, pk=pk)).data)


class BillingRunFinalizeApi(APIView):
    """Issues the run's invoices; finalising a finalised run returns it unchanged."""

    required_capability = "billing.run"

    @extend_schema(request=None, responses=BillingRunSerializer)
    def post(self, request: Request, pk: int) -> Response:
        run = billing_run_finalize(run=get_object_or_404(BillingRun, pk=pk), actor=request.user)
        return Response(BillingRunSerializer(run).data)


class BillingRunRecomputeApi(APIView):
    required_capability = "billing.run"

    @extend_schema(request=None, responses=BillingRunSerializer)
    def post(self, request: Request, pk: int) -> Response:
        run = billing_run_recompute(run=get_object_or_404(BillingRun, pk=pk), actor=request.user)
        return Response(BillingRunSerializer(run).data)


# --- invoices ----------------------------------------------------------------------------------
class InvoiceLineSerializer(serializers.Serializer):
    kind = serializers.CharField()
    description = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)


class InvoiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(allow_null=True)
    client = serializers.IntegerField(source="client_id")
    account_number = serializers.CharField(source="client.account_number")
    period = serializers.CharField()
    consumption = serializers.DecimalField(max_digits=12, decimal_places=3)
    estimated = serializers.BooleanField()
    previous_reading = serializers.DecimalField(max_digits=12, decimal_places=3, allow_null=True)
    current_reading = serializers.DecimalField(max_digits=12, decimal_places=3, allow_null=True)
    lines = InvoiceLineSerializer(many=True)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    credited = serializers.DecimalField(max_digits=12, decimal_places=2)
    balance_due = serializers.DecimalField(max_digits=12, decimal_places=2)
    issued_on = serializers.DateField(allow_null=True)
    due_date = serializers.DateField(allow_null=True)
    status = serializers.CharField(source="state", help_text="draft, open, partial (partially paid, not yet due), overdue, paid or void")


def _invoices() -> QuerySet[Invoice]:
    return invoices_with_dues(Invoice.objects.select_related("client").prefetch_related("lines"))


class InvoiceListApi(APIView):
    export_name = "invoices"  # ?format=csv|xlsx: invoices-<date>.csv
    required_capability = "billing.view"
    pagination_class = Pagination

    @extend_schema(parameters=[
        OpenApiParameter("client", int), OpenApiParameter("period", str, description="YYYY-MM"),
        OpenApiParameter("status", str, enum=[s for s, _ in INVOICE_STATES])],
        responses={200: InvoiceSerializer(many=True), 400: BAD_REQUEST})
    def get(self, request: Request) -> Response:
        q = request.query_params
        errors = {}
        if q.get("client") and not q["client"].isdigit():
            errors["client"] = ["Give a client id."]
        if q.get("period") and not PERIOD_RE.match(q["period"]):
            errors["period"] = [MSG_PERIOD_FORMAT]
        if q.get("status") and q["status"] not in dict(INVOICE_STATES):
            errors["status"] = [f"One of: {', '.join(s for s, _ in INVOICE_STATES)}."]
        if errors:
            raise serializers.ValidationError(errors)
        qs = invoice_search(client=q.get("client", ""), period=q.get("period", ""), state=q.get("status", ""))
        qs = qs.select_related(None).select_related("client").prefetch_related("lines")
        return paginated(self, request, qs, InvoiceSerializer)


class InvoiceDetailApi(APIView):
    required_capability = "billing.view"

    @extend_schema(responses=InvoiceSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(InvoiceSerializer(get_object_or_404(_invoices(), pk=pk)).data)


class _AnyAccept(BaseContentNegotiation):
    """The PDF is the answer whatever the client accepts (`Accept: application/pdf` included);
    errors still come as the usual JSON."""

    def select_parser(self, request, parsers):  # type: ignore[no-untyped-def]
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):  # type: ignore[no-untyped-def]
        return renderers[0], renderers[0].media_type


class InvoicePdfApi(APIView):
    """`GET /invoices/{id}/pdf/`: the issued invoice as `application/pdf` (shared/API.md); 404 for a
    draft, as for an invoice that does not exist (another provider's never does here)."""

    required_capability = "billing.view"
    content_negotiation_class = _AnyAccept

    @extend_schema(responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The bill")})
    def get(self, request: Request, pk: int) -> HttpResponse:
        invoice = get_object_or_404(Invoice, pk=pk, status=Invoice.Status.ISSUED)
        audit(actor=request.user, action="invoice.exported", object_repr=cast(str, invoice.number),  # issued: numbered
              target=("client", invoice.client_id), format="pdf", invoice_id=invoice.pk)
        return pdf_response(invoice_pdf(invoice), f"{invoice.number}.pdf")


# --- credit notes and adjustments --------------------------------------------------------------
class CreditNoteSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    number = serializers.CharField(read_only=True)
    invoice = serializers.IntegerField(source="invoice_id")
    client = serializers.IntegerField(source="client_id", read_only=True)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    reason = serializers.CharField()
    issued_on = serializers.DateField(read_only=True)


class CreditNoteInput(CleanedInput):
    """`{invoice, amount, reason}`: the invoice must be issued; the first fault is the answer, as
    credit_note_create gives it."""

    invoice = serializers.IntegerField(min_value=1, help_text="An issued invoice's id")
    amount = GroupedDecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"),
                            help_text="KES, at most what is left of the invoice after earlier credits")
    reason = serializers.CharField(max_length=300)

    def clean(self, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        invoice_id = str(raw.get("invoice", ""))
        invoice = Invoice.objects.filter(pk=int(invoice_id)).first() if invoice_id.isdigit() else None
        if invoice is None:
            return {}, {"invoice": ["Unknown invoice."]}
        if invoice.status != Invoice.Status.ISSUED:
            return {}, {"invoice": [MSG_CREDIT_NOT_ISSUED]}
        cleaned, errors = clean_amount_and_reason(raw)
        return {"invoice": invoice, **cleaned}, errors


class CreditNoteListCreateApi(APIView):
    """Credit notes void an issued invoice in full or in part (`{invoice, amount, reason}`)."""

    export_name = "credit-notes"  # ?format=csv|xlsx: credit-notes-<date>.csv
    required_capability = {"GET": "billing.view", "POST": "billing.run"}
    pagination_class = Pagination

    @extend_schema(responses=CreditNoteSerializer(many=True))
    def get(self, request: Request) -> Response:
        return paginated(self, request, CreditNote.objects.order_by("-id"), CreditNoteSerializer)

    @extend_schema(request=CreditNoteInput, responses={201: CreditNoteSerializer})
    def post(self, request: Request) -> Response:
        body = CreditNoteInput(data=request.data)
        body.is_valid(raise_exception=True)
        note = credit_note_create(**body.validated_data, actor=request.user)
        return Response(CreditNoteSerializer(note).data, status=status.HTTP_201_CREATED)


class AdjustmentInput(CleanedInput):
    """`{amount, reason}`, checked as adjustment_post checks them."""

    amount = GroupedDecimalField(max_digits=12, decimal_places=2,
                            help_text="Positive raises what the client owes, negative lowers it; not 0.")
    reason = serializers.CharField(max_length=300)

    def clean(self, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        return clean_amount_and_reason(raw)


class ClientAdjustmentApi(APIView):
    required_capability = "billing.run"

    @extend_schema(request=AdjustmentInput, responses={201: inline_serializer("Adjustment", {
        "date": serializers.DateField(), "kind": serializers.CharField(), "reference": serializers.CharField(),
        "amount": serializers.DecimalField(max_digits=12, decimal_places=2), "balance": _running_balance()})})
    def post(self, request: Request, pk: int) -> Response:
        client = get_object_or_404(Client, pk=pk)
        body = AdjustmentInput(data=request.data)
        body.is_valid(raise_exception=True)
        entry = adjustment_post(client=client, **body.validated_data, actor=request.user)
        return Response({"date": entry.booked_on.isoformat(), "kind": entry.kind, "reference": entry.reference,
                         "amount": f"{entry.amount:.2f}", "balance": f"{client_balance(client.pk):.2f}"},
                        status=status.HTTP_201_CREATED)


# --- fees and charges (issue 19) -----------------------------------------------------------------
class FeeSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    kind = serializers.CharField()


class FeeInput(CleanedInput):
    """`{code, name, amount, kind}`, checked as the Fees page checks them (billing.fees.clean_fee)."""

    unknown_fields_refused = True
    code = serializers.RegexField(r"^[a-z0-9][a-z0-9-]{0,29}$", max_length=30,
                                  help_text="Lower-case letters, digits and dashes; unique, e.g. reconnection")
    name = serializers.CharField(max_length=100)
    amount = GroupedDecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0"),
                                 help_text="The default amount, KES, 0 or more")
    kind = serializers.ChoiceField(choices=Fee.Kind.choices, required=False, help_text="fee (default) or deposit")

    def clean(self, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        return clean_fee(raw)


class FeeListCreateApi(APIView):
    """The provider's fee catalogue (`{code, name, amount, kind: "fee"|"deposit"}`), fees in use."""

    export_name = "fees"  # ?format=csv|xlsx: fees-<date>.csv
    required_capability = {"GET": "billing.view", "POST": "fees.manage"}
    pagination_class = Pagination

    @extend_schema(responses=FeeSerializer(many=True))
    def get(self, request: Request) -> Response:
        return paginated(self, request, Fee.objects.filter(active=True).order_by("code"), FeeSerializer)

    @extend_schema(request=FeeInput, responses={201: FeeSerializer})
    def post(self, request: Request) -> Response:
        body = FeeInput(data=request.data)
        body.is_valid(raise_exception=True)
        fee = fee_create(actor=request.user, **body.validated_data)
        return Response(FeeSerializer(fee).data, status=status.HTTP_201_CREATED)


class ChargeInput(CleanedInput):
    """`{fee, amount, note, bill_now}`, checked as billing.fees.clean_charge checks them."""

    unknown_fields_refused = True
    fee = serializers.CharField(max_length=30, help_text="The code of a fee in the catalogue")
    amount = GroupedDecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"), required=False,
                                 allow_null=True, help_text="KES; defaults to the fee's amount")
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)
    bill_now = serializers.BooleanField(required=False, default=False,
                                        help_text="Bill it at once on a one-off invoice instead of the next bill")

    def clean(self, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        return clean_charge(raw)


class ChargeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    balance = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="The client's balance after it")
    invoice = serializers.CharField(allow_null=True, help_text="The one-off invoice's number when billed now")


class ClientChargeApi(APIView):
    """Charge a client a catalogue fee: in its ledger (and balance) at once, on its next bill."""

    required_capability = "fees.charge"

    @extend_schema(request=ChargeInput, responses={201: ChargeOutput})
    def post(self, request: Request, pk: int) -> Response:
        client = get_object_or_404(Client, pk=pk)
        body = ChargeInput(data=request.data)
        body.is_valid(raise_exception=True)
        charge = fee_charge(client=client, **body.validated_data, actor=request.user)
        return Response({"id": charge.pk, "kind": charge.kind, "amount": f"{charge.amount:.2f}",
                         "balance": f"{client_balance(client.pk):.2f}",
                         "invoice": charge.invoice.number if charge.invoice else None},
                        status=status.HTTP_201_CREATED)
