"""`GET /reports/summary/?period=YYYY-MM` (shared/API.md): the period's money at a glance, from the
same functions as the dashboard's home and the report pages."""

from __future__ import annotations

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reports.figures import BUCKETS, figures_fresh, latest_billing_period, summary

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MSG_PERIOD = "Give the period as YYYY-MM, e.g. 2026-11."


def _money(field: str = "") -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=16, decimal_places=2, help_text=field)


class AgingOutput(serializers.Serializer):
    current = _money("not yet past due")
    d1_30 = _money("1-30 days past due")
    d31_60 = _money("31-60 days past due")
    d61_90 = _money("61-90 days past due")
    d90 = _money("over 90 days past due")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        return {name: fields[key] for name, key in zip(BUCKETS, ("current", "d1_30", "d31_60", "d61_90", "d90"),
                                                       strict=True)}


class SummaryOutput(serializers.Serializer):
    period = serializers.CharField()
    billed = _money("total of the period's issued invoices")
    collected = _money("payments received in that calendar month (Nairobi), not reversed or refunded")
    collection_efficiency = serializers.DecimalField(max_digits=8, decimal_places=4, allow_null=True,
                                                     help_text="collected / billed; null when nothing was billed")
    arrears = _money("every client's positive balance today")
    aging = AgingOutput(help_text="arrears by how long past due each client's oldest unpaid bill is")
    invoices = serializers.IntegerField(help_text="the period's issued invoices")
    consumption = serializers.DecimalField(max_digits=16, decimal_places=3, help_text="m³ billed in the period")
    figures_as_of = serializers.DateTimeField(allow_null=True, help_text="when the figures were made")


class ReportSummaryApi(APIView):
    required_capability = "reports.view"

    @extend_schema(
        operation_id="reports_summary",
        parameters=[OpenApiParameter("period", OpenApiTypes.STR, description="YYYY-MM; the latest billed period "
                                     "when left out")],
        responses=SummaryOutput)
    def get(self, request: Request) -> Response:
        period = request.query_params.get("period") or ""
        if period and not PERIOD.match(period):
            raise ValidationError({"period": [MSG_PERIOD]})
        fresh = figures_fresh()
        s = summary(period or latest_billing_period())
        data = {"period": s.period, "billed": s.billed, "collected": s.collected,
                "collection_efficiency": s.collection_efficiency, "arrears": s.arrears,
                "aging": {b.name: b.amount for b in s.aging.buckets}, "invoices": s.invoices,
                "consumption": s.consumption, "figures_as_of": fresh.refreshed_at}
        return Response(SummaryOutput(data).data)
