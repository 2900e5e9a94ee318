from __future__ import annotations

from typing import cast

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import APIKeyPrincipal
from accounts.models import STAFF_ROLES, Role, User
from accounts.selectors import staff_list, staff_status
from accounts.staff import staff_change_role, staff_deactivate, staff_invite, staff_reactivate
from majismart.api import Pagination
from majismart.tenancy import connection

STAFF_ROLE_CHOICES = [r.value for r in Role if r in STAFF_ROLES]


class WhoAmIApi(APIView):
    """Who the request authenticated as, on which provider."""

    required_capability = "api.use"

    @extend_schema(
        responses=inline_serializer(
            "WhoAmI",
            {"kind": serializers.CharField(), "name": serializers.CharField(),
             "role": serializers.CharField(), "provider": serializers.CharField()},
        )
    )
    def get(self, request: Request) -> Response:
        # Authenticated (required_capability): a staff user or an API key, never anonymous.
        principal = cast("User | APIKeyPrincipal", request.user)
        if isinstance(principal, APIKeyPrincipal):
            kind, name = "api_key", principal.api_key.name
        else:
            kind, name = "user", principal.email
        return Response(
            {"kind": kind, "name": name, "role": principal.role, "provider": connection.schema_name}
        )


class StaffOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    full_name = serializers.CharField(help_text="Empty until an invited person accepts (unless given when inviting).")
    role = serializers.ChoiceField(choices=STAFF_ROLE_CHOICES)
    is_active = serializers.BooleanField(help_text="False while invited and once deactivated.")
    status = serializers.ChoiceField(choices=["active", "invited", "deactivated"])
    invite_expires_at = serializers.DateTimeField(allow_null=True,
                                                  help_text="When the pending invitation's link stops working.")

    def to_representation(self, instance: User) -> dict:
        data = {"id": instance.pk, "email": instance.email, "full_name": instance.full_name,
                "role": instance.role, "is_active": instance.is_active, "status": staff_status(instance),
                "invite_expires_at": getattr(instance, "invite_expires_at", None)}
        if data["invite_expires_at"] is not None:
            data["invite_expires_at"] = serializers.DateTimeField().to_representation(data["invite_expires_at"])
        return data


class StaffInviteInput(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=STAFF_ROLE_CHOICES,
                                   help_text="A manager (or a manager's key) cannot invite an owner.")
    full_name = serializers.CharField(required=False, help_text="A suggestion: the person sets their own name.")


class StaffPatchInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=STAFF_ROLE_CHOICES, required=False,
                                   help_text="A manager cannot make or change an owner; the last active owner "
                                             "keeps the role.")
    is_active = serializers.BooleanField(required=False,
                                         help_text="false deactivates (their sessions end), true reactivates.")


def _body(request: Request, allowed: tuple[str, ...], fixed: dict[str, object]) -> dict:
    """The body's writable fields; the other fields of the representation may be sent back
    unchanged (`id`, `email`, ...), anything else is a field error."""
    if not isinstance(request.data, dict):
        raise serializers.ValidationError({"detail": ["Send a JSON object."]})
    errors: dict[str, list[str]] = {}
    for name, value in request.data.items():
        if name in allowed:
            continue
        if name in fixed:
            if value != fixed[name]:
                errors[name] = ["Cannot be changed here."]
        else:
            errors[name] = ["Unknown field."]
    if errors:
        raise serializers.ValidationError(errors)
    return {k: v for k, v in request.data.items() if k in allowed}


def _denied(exc: DjangoPermissionDenied) -> exceptions.PermissionDenied:
    return exceptions.PermissionDenied(str(exc) or None)


def _staff_row(pk: int) -> User:
    return get_object_or_404(staff_list(), pk=pk)


class StaffListCreateApi(APIView):
    """The provider's staff (clients are not staff), people invited and not yet joined included."""

    required_capability = "staff.manage"
    pagination_class = Pagination

    @extend_schema(responses=StaffOutput(many=True))
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(staff_list(), request, view=self)
        return paginator.get_paginated_response(StaffOutput(page, many=True).data)

    @extend_schema(request=StaffInviteInput, responses={201: StaffOutput})
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise serializers.ValidationError({"detail": ["Send a JSON object."]})
        unknown = sorted(set(request.data) - {"email", "role", "full_name", "id", "is_active", "status"})
        body = StaffInviteInput(data=request.data)
        body.is_valid(raise_exception=False)
        errors = dict(body.errors)
        for name in unknown:
            errors[name] = ["Unknown field."]
        if errors:
            raise serializers.ValidationError(errors)
        try:
            invite, _sent = staff_invite(actor=request.user, **body.validated_data)
        except DjangoPermissionDenied as exc:
            raise _denied(exc) from exc
        assert invite.user_id is not None  # an invitation is made for the user it creates
        return Response(StaffOutput(_staff_row(invite.user_id)).data, status=status.HTTP_201_CREATED)


class StaffDetailApi(APIView):
    required_capability = "staff.manage"

    @extend_schema(request=StaffPatchInput, responses=StaffOutput)
    def patch(self, request: Request, pk: int) -> Response:
        user = _staff_row(pk)
        fixed = {"id": user.pk, "email": user.email, "full_name": user.full_name, "status": staff_status(user),
                 "invite_expires_at": StaffOutput(user).data["invite_expires_at"]}
        raw = _body(request, ("role", "is_active"), fixed)
        body = StaffPatchInput(data=raw)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            with transaction.atomic():
                if "role" in data:
                    staff_change_role(actor=request.user, user=user, role=data["role"])
                if "is_active" in data and data["is_active"] != user.is_active:
                    if data["is_active"]:
                        staff_reactivate(actor=request.user, user=user)
                    else:
                        staff_deactivate(actor=request.user, user=user)
        except DjangoPermissionDenied as exc:
            raise _denied(exc) from exc
        return Response(StaffOutput(_staff_row(user.pk)).data)
