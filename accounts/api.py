from __future__ import annotations

from typing import Any, cast

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
from majismart.api import CleanedInput, Pagination, paginated
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


class StaffInviteInput(CleanedInput):
    """Who to invite, in which role."""

    # The representation's other fields may be sent back (a copied row); any other key is unknown.
    unknown_fields_refused = True
    tolerated = frozenset({"id", "is_active", "status"})

    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=STAFF_ROLE_CHOICES,
                                   help_text="A manager (or a manager's key) cannot invite an owner.")
    full_name = serializers.CharField(required=False, max_length=150,
                                      help_text="A suggestion: the person sets their own name.")


FIXED_FIELDS = frozenset({"id", "email", "full_name", "status", "invite_expires_at"})


class StaffPatchInput(CleanedInput):
    """`role` and `is_active` change; the representation's other fields may be sent back
    unchanged (context `fixed`: their values), anything else is an unknown field."""

    unknown_fields_refused = True
    tolerated = FIXED_FIELDS

    role = serializers.ChoiceField(choices=STAFF_ROLE_CHOICES, required=False,
                                   help_text="A manager cannot make or change an owner; the last active owner "
                                             "keeps the role.")
    is_active = serializers.BooleanField(required=False,
                                         help_text="false deactivates (their sessions end), true reactivates.")

    def clean(self, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        fixed = self.context["fixed"]
        return dict(self._typed), {name: ["Cannot be changed here."] for name, value in raw.items()
                                   if name in fixed and value != fixed[name]}


def _denied(exc: DjangoPermissionDenied) -> exceptions.PermissionDenied:
    return exceptions.PermissionDenied(str(exc) or None)


def _staff_row(pk: int) -> User:
    return get_object_or_404(staff_list(), pk=pk)


class StaffListCreateApi(APIView):
    """The provider's staff (clients are not staff), people invited and not yet joined included."""

    export_name = "staff"  # ?format=csv|xlsx: staff-<date>.csv
    required_capability = "staff.manage"
    pagination_class = Pagination

    @extend_schema(responses=StaffOutput(many=True))
    def get(self, request: Request) -> Response:
        return paginated(self, request, staff_list(), StaffOutput)

    @extend_schema(request=StaffInviteInput, responses={201: StaffOutput})
    def post(self, request: Request) -> Response:
        body = StaffInviteInput(data=request.data)
        body.is_valid(raise_exception=True)
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
        body = StaffPatchInput(data=request.data, context={"fixed": fixed})
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
