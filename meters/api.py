from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clients.models import Client, Zone
from majismart.api import (
    AnyCaseChoiceField,
    CleanedInput,
    GroupedDecimalField,
    Pagination,
    paginated,
)
from majismart.badinput import NUL
from meters.alerts import leak_episode_close
from meters.models import LeakEpisode, Meter, Reading
from meters.services import RecordResult, meter_create, readings_record
from meters.validation import parse_reading

MAX_BULK = 10_000
NOTE_MAX = 300  # characters: what a reading keeps


class MeterSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    serial = serializers.CharField(max_length=40)
    client = serializers.IntegerField(source="client_id", required=False, allow_null=True,
                                      help_text="The client's id; required for a client meter, null for a bulk meter")
    kind = serializers.ChoiceField(choices=Meter.Kind.choices, default=Meter.Kind.CLIENT,
                                   help_text="`bulk`: a zone's bulk (district) meter, read like any meter, never billed")
    zone = serializers.SlugRelatedField(slug_field="code", queryset=Zone.objects.all(), required=False,
                                        allow_null=True, error_messages={"does_not_exist": "No zone with code {value}."},
                                        help_text="The zone's code: required for a bulk meter, null for a client meter")
    initial_reading = serializers.DecimalField(max_digits=12, decimal_places=3, min_value=Decimal(0), default=Decimal(0))
    dial_capacity = serializers.DecimalField(max_digits=12, decimal_places=3, min_value=Decimal("0.001"),
                                             default=Decimal("99999.999"))
    installed_on = serializers.DateField()
    status = serializers.CharField(read_only=True)

    def validate_client(self, value: int | None) -> Client | None:
        """The client itself (kept under the field's source, `client_id`), of this provider."""
        if value is None:
            return None
        client = Client.objects.filter(pk=value).first()
        if client is None:
            raise serializers.ValidationError("No such client.")
        return client


class MeterListCreateApi(APIView):
    export_name = "meters"  # ?format=csv|xlsx: meters-<date>.csv
    required_capability = {"GET": "clients.view", "POST": "meters.manage"}
    pagination_class = Pagination

    @extend_schema(responses=MeterSerializer(many=True), parameters=[
        OpenApiParameter("client", int), OpenApiParameter("kind", str, enum=Meter.Kind.values)])
    def get(self, request: Request) -> Response:
        qs = Meter.objects.select_related("zone").order_by("serial")
        if client := request.query_params.get("client"):
            qs = qs.filter(client_id=client) if client.isdigit() else qs.none()
        if kind := request.query_params.get("kind"):
            qs = qs.filter(kind=kind)
        return paginated(self, request, qs, MeterSerializer)

    @extend_schema(request=MeterSerializer, responses={201: MeterSerializer})
    def post(self, request: Request) -> Response:
        data = MeterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        # meter_create says which of client and zone a kind needs (400 on the field at fault).
        meter = meter_create(actor=request.user, serial=values["serial"], client=values.get("client_id"),
                             kind=values["kind"], zone=values.get("zone"),
                             installed_on=values["installed_on"], initial_reading=values["initial_reading"],
                             dial_capacity=values["dial_capacity"])
        return Response(MeterSerializer(meter).data, status=status.HTTP_201_CREATED)


class MeterDetailApi(APIView):
    required_capability = "clients.view"

    @extend_schema(responses=MeterSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(MeterSerializer(get_object_or_404(Meter.objects.select_related("zone"), pk=pk)).data)


class ReadingIn(CleanedInput):
    """One reading. Its values are checked as every path checks them (meters.validation; in
    `readings_record`, with the meter's history, which answers with all of a reading's faults):
    this refuses before it only what those checks would take but the schema forbids."""

    body_message = "Send one reading as a JSON object."

    meter = serializers.CharField(help_text="Meter serial")
    value = GroupedDecimalField(max_digits=12, decimal_places=3, min_value=Decimal(0),
                                help_text="m³, at most 3 decimals; not below the previous reading without a reason")
    read_at = serializers.DateTimeField(help_text="Not in the future; a time without an offset is Nairobi's.")
    reason = AnyCaseChoiceField(choices=["", "rollover", "replacement"], required=False, allow_null=True)
    note = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=NOTE_MAX)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        own = parse_reading(0, attrs, timezone.now()).errors
        beyond = {name: messages for name, messages in self._field_errors.items() if name not in own}
        if beyond:
            raise serializers.ValidationError({**own, **beyond})
        return attrs


ReadingOut = inline_serializer("ReadingOut", {
    "id": serializers.IntegerField(), "meter": serializers.CharField(help_text="Meter serial"),
    "value": serializers.DecimalField(max_digits=12, decimal_places=3), "read_at": serializers.DateTimeField(),
    "consumption": serializers.CharField(allow_null=True),
    "status": serializers.CharField(), "flags": serializers.ListField(child=serializers.CharField()),
})


class ReadingBulkError(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the reading in the list sent")
    # A declared field: DRF's metaclass takes it off the class, so Serializer.errors stays a property.
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),  # type: ignore[assignment]
                                   help_text='`{"field": ["message"]}`')


def _reading_out(reading: Reading) -> dict:
    return {"id": reading.id, "meter": reading.meter.serial, "value": f"{reading.value:.3f}",
            "read_at": reading.read_at.isoformat(),
            "consumption": None if reading.consumption is None else f"{reading.consumption:.3f}",
            "status": reading.status, "flags": list(reading.flags)}


class ReadingCreateApi(APIView):
    required_capability = "readings.record"

    @extend_schema(request=ReadingIn, responses={201: ReadingOut, 200: ReadingOut})
    def post(self, request: Request) -> Response:
        body = ReadingIn(data=request.data)  # a form's QueryDict too: each field's value
        body.is_valid(raise_exception=True)
        result = readings_record([body.validated_data], source=Reading.Source.API, user=_user(request))
        if result.errors:
            raise serializers.ValidationError(result.errors[0]["errors"])
        if result.repeats:
            # The same reading sent again (a retry): nothing new, the stored one is returned.
            existing = Reading.objects.select_related("meter").get(pk=result.repeats[0].id)
            return Response(_reading_out(existing), status=status.HTTP_200_OK)
        reading = Reading.objects.select_related("meter").get(pk=result.created[0].id)
        return Response(_reading_out(reading), status=status.HTTP_201_CREATED)


class ReadingBulkApi(APIView):
    required_capability = "readings.record"
    # A NUL in one reading is that row's error (API.md: valid rows kept, invalid rows reported),
    # not the whole batch's: readings_record reports it with the field at fault.
    nul_checked_by_view = True

    @extend_schema(request=ReadingIn(many=True), responses=inline_serializer("ReadingBulkOut", {
        "created": serializers.IntegerField(), "unchanged": serializers.IntegerField(),
        "errors": ReadingBulkError(many=True)}))
    def post(self, request: Request) -> Response:
        items = request.data
        if not isinstance(items, list):
            raise serializers.ValidationError({"detail": ["Send a JSON list of readings."]})
        if len(items) > MAX_BULK:
            raise serializers.ValidationError({"detail": [f"At most {MAX_BULK} readings per request."]})
        rows, shape_errors = [], []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                shape_errors.append({"index": i, "errors": {"detail": ["Each reading must be a JSON object."]}})
            elif note_errors := _note_errors(item):
                shape_errors.append({"index": i, "errors": note_errors})
            else:
                rows.append((i, item))
        # Every bad row is reported (API.md: none lost silently), however many there are.
        result: RecordResult = readings_record([r for _, r in rows], source=Reading.Source.API, user=_user(request),
                                               max_errors=len(rows))
        positions = [i for i, _ in rows]
        errors = shape_errors + [{"index": positions[e["index"]], "errors": e["errors"]} for e in result.errors]
        errors.sort(key=lambda e: e["index"])
        return Response({"created": len(result.created), "unchanged": len(result.repeats), "errors": errors})


_NOTE = ReadingIn().fields["note"]


def _note_errors(item: dict) -> dict[str, list[str]]:
    """The schema's limits on a reading's note, which the reading checks take as any text (one
    field, not the whole ReadingIn: a bulk list holds thousands). A NUL readings_record reports."""
    note = item.get("note")
    if isinstance(note, str) and (NUL in note or len(note.strip()) <= NOTE_MAX):
        return {}
    try:
        _NOTE.run_validation(note)
    except serializers.ValidationError as exc:
        return {"note": [str(message) for message in cast(list, exc.detail)]}  # a field's errors: a list
    return {}


def _user(request: Request) -> object:
    return request.user if getattr(request.user, "pk", None) else None


# --- leak alerts (issue 21) --------------------------------------------------------------------
class LeakAlertOutput(serializers.Serializer):
    id = serializers.IntegerField()
    client = serializers.IntegerField(source="meter.client_id")
    account_number = serializers.CharField(source="meter.client.account_number")
    meter = serializers.CharField(source="meter.serial")
    rule = serializers.ChoiceField(choices=LeakEpisode.Rule.choices)
    started = serializers.DateTimeField(help_text="The reading before the unusual use: m3_since counts from here")
    last_read_at = serializers.DateTimeField(help_text="The latest reading that still showed it")
    m3_since = serializers.DecimalField(max_digits=12, decimal_places=3, coerce_to_string=True)
    threshold = serializers.DecimalField(max_digits=12, decimal_places=3, coerce_to_string=True,
                                         help_text="What the opening reading was over (m³; per day for continuous use)")
    state = serializers.ChoiceField(choices=LeakEpisode.State.choices)
    closed_at = serializers.DateTimeField(allow_null=True)
    closed_how = serializers.CharField(help_text="`auto` (use fell back) or `staff`; empty while open")
    report_reference = serializers.CharField(help_text="The service request the client made from the alert, if any")


class LeakAlertListApi(APIView):
    export_name = "leak-alerts"
    required_capability = "clients.view"
    pagination_class = Pagination

    @extend_schema(responses=LeakAlertOutput(many=True), parameters=[
        OpenApiParameter("state", str, enum=["open", "closed"]), OpenApiParameter("client", int)])
    def get(self, request: Request) -> Response:
        q = request.query_params
        alerts = LeakEpisode.objects.select_related("meter__client").order_by("-started", "-id")
        if q.get("state") in LeakEpisode.State.values:
            alerts = alerts.filter(state=q["state"])
        if str(q.get("client", "")).isdigit():
            alerts = alerts.filter(meter__client_id=int(q["client"]))
        return paginated(self, request, alerts, LeakAlertOutput)


class LeakAlertCloseInput(CleanedInput):
    unknown_fields_refused = True

    note = serializers.CharField(max_length=300, required=False, allow_blank=True,
                                 help_text="Why it is closed (checked, false alarm, fixed).")


class LeakAlertCloseApi(APIView):
    required_capability = "leak_alerts.manage"

    @extend_schema(request=LeakAlertCloseInput, responses=LeakAlertOutput)
    def post(self, request: Request, pk: int) -> Response:
        episode = get_object_or_404(LeakEpisode, pk=pk)
        body = LeakAlertCloseInput(data=request.data)
        body.is_valid(raise_exception=True)
        closed = leak_episode_close(episode=episode, actor=request.user, note=body.validated_data.get("note", ""))
        return Response(LeakAlertOutput(closed).data)
