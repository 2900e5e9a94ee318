from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import has_capability
from accounts.services import audit
from clients.models import Client
from clients.selectors import client_search
from clients.services import client_create, client_update
from clients.validation import ACCOUNT_PATTERN, References, clean_client
from majismart.api import (
    AnyCaseChoiceField,
    CleanedInput,
    GroupedDecimalField,
    Pagination,
    paginated,
)
from majismart.exports import FORMATS

LANGUAGE_CODES = tuple(code for code, _ in settings.LANGUAGES)
MSG_LANGUAGE = "Language must be one of: en, sw (or blank for the provider's default)."
MSG_OPENING_BALANCE_FIXED = "The opening balance is set when the client is created and cannot be edited."


class ClientOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account_number = serializers.CharField()
    full_name = serializers.CharField()
    phone = serializers.CharField()
    email = serializers.CharField()
    national_id = serializers.CharField(required=False, help_text="Only for roles that may see identities.")
    category = serializers.CharField(source="category.code")
    zone = serializers.CharField(source="zone.code", allow_null=True, default=None)
    location = serializers.CharField()
    status = serializers.CharField()
    opening_balance = serializers.DecimalField(max_digits=12, decimal_places=2)
    language = serializers.CharField(help_text="en or sw: the language of the client's bills, messages and "
                                               "portal; blank: the provider's default.")

    def get_fields(self) -> dict[str, serializers.Field]:
        """No identity field at all for a role that may not see it (nor a column in a download);
        the schema (no `sensitive` in its context) lists it."""
        fields = super().get_fields()
        if self.context.get("sensitive") is False:
            fields.pop("national_id", None)
        return fields


def _optional(**kwargs: Any) -> dict[str, Any]:
    return {"required": False, "allow_blank": True, "allow_null": True, **kwargs}


class ClientInput(CleanedInput):
    """A client's fields, checked by the shared client cleaner (the dashboard form's and CSV
    import's too). `id` may be sent back; any other key is an unknown field."""

    unknown_fields_refused = True
    tolerated = frozenset({"id"})

    account_number = serializers.RegexField(ACCOUNT_PATTERN, max_length=30, **_optional(
        help_text="3–30 letters, digits, hyphens or slashes (stored in capitals); generated when absent."))
    full_name = serializers.CharField(max_length=200)
    phone = serializers.CharField(**_optional(help_text="07…, 01…, 2547…, +2547…; stored as E.164."))
    email = serializers.EmailField(**_optional())
    national_id = serializers.CharField(**_optional(help_text="6–10 digits, or a passport number: letters and "
                                                              "digits, up to 12."))
    category = serializers.CharField(help_text="Category code (or name), e.g. domestic.")
    zone = serializers.CharField(**_optional(help_text="Zone code (or name)."))
    location = serializers.CharField(max_length=200, **_optional())
    status = AnyCaseChoiceField(choices=Client.Status.values, **_optional(help_text="Defaults to active."))
    opening_balance = GroupedDecimalField(max_digits=12, decimal_places=2, required=False, allow_null=True,
                                     help_text="KES owed when the client is created (negative: credit).")
    language = AnyCaseChoiceField(choices=["", *LANGUAGE_CODES], **_optional(
        help_text="en or sw (bills, messages and the portal in this language); blank: the provider's default."))

    def clean(self, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        cleaned, errors = clean_client({k: v for k, v in raw.items() if k in self.fields and k != "language"},
                                       References.load(), partial=self.partial)
        if not self.partial or "language" in raw:  # the API's own field (the CSV import has none)
            language = str(raw.get("language") or "").strip().lower()
            if language in ("", *LANGUAGE_CODES):
                cleaned["language"] = language
            else:
                errors["language"] = [MSG_LANGUAGE]
        return cleaned, errors


def _clean(request: Request, *, partial: bool) -> dict[str, Any]:
    body = ClientInput(data=request.data, partial=partial)
    body.is_valid(raise_exception=True)
    return body.validated_data


def _sensitive(request: Request) -> bool:
    return has_capability(request.user, "clients.view_sensitive")


def _filtered(request: Request) -> bool:
    return any(request.query_params.get(k, "").strip() for k in ("search", "status", "category", "zone"))


def _out(request: Request, client: Client | list[Client] | QuerySet[Client], many: bool = False) -> dict:
    return ClientOutput(client, many=many, context={"sensitive": _sensitive(request)}).data


class ClientListCreateApi(APIView):
    export_name = "clients"  # ?format=csv|xlsx: clients-<date>.csv
    required_capability = {"GET": "clients.view", "POST": "clients.manage"}
    pagination_class = Pagination

    @extend_schema(responses=ClientOutput(many=True), parameters=[
        OpenApiParameter("search", str, description="Whole words of the name, the start of the account number, "
                                                    "or a phone number"),
        OpenApiParameter("status", str), OpenApiParameter("category", str, description="Category code"),
        OpenApiParameter("zone", str, description="Zone code")])
    def get(self, request: Request) -> Response:
        qs = client_search(
            query=request.query_params.get("search", ""),
            status=request.query_params.get("status", ""),
            category=request.query_params.get("category", ""),
            zone=request.query_params.get("zone", ""),
        )
        if request.query_params.get("format", "") in FORMATS:
            # A download of every client the filters match: one audit row saying how many, and
            # whether a search narrowed them (the words are not kept).
            audit(actor=request.user, action="clients.exported", object_repr=f"{qs.count()} clients exported",
                  format=request.query_params["format"], filtered=_filtered(request))
            return paginated(self, request, qs, ClientOutput, sensitive=_sensitive(request))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        assert page is not None  # Pagination always has a page size
        # One row per request (not per client), with the ids it returned; search words are not kept.
        audit(actor=request.user, action="clients.listed", object_repr=f"{len(page)} clients returned",
              client_ids=[c.pk for c in page], searched=bool(request.query_params.get("search", "").strip()))
        return paginator.get_paginated_response(_out(request, page, many=True))

    @extend_schema(request=ClientInput, responses={201: ClientOutput})
    def post(self, request: Request) -> Response:
        client = client_create(actor=request.user, **_clean(request, partial=False))
        return Response(_out(request, client), status=status.HTTP_201_CREATED)


class ClientDetailApi(APIView):
    required_capability = {"GET": "clients.view", "PATCH": "clients.manage"}

    @extend_schema(responses=ClientOutput)
    def get(self, request: Request, pk: int) -> Response:
        client = get_object_or_404(Client.objects.select_related("category", "zone"), pk=pk)
        audit(actor=request.user, action="client.viewed", object_repr=client.account_number, target=client)
        return Response(_out(request, client))

    @extend_schema(request=ClientInput, responses=ClientOutput)
    def patch(self, request: Request, pk: int) -> Response:
        client = get_object_or_404(Client, pk=pk)
        if isinstance(request.data, dict) and "opening_balance" in request.data:
            # What a client owes changes through the ledger, never by editing the migration figure.
            raise serializers.ValidationError({"opening_balance": [MSG_OPENING_BALANCE_FIXED]})
        client = client_update(client=client, actor=request.user, **_clean(request, partial=True))
        client = Client.objects.select_related("category", "zone").get(pk=client.pk)
        return Response(_out(request, client))

