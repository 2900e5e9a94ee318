"""Reads of field work: the staff queue of service requests, the field officer's list, the
dashboard list of work orders. Each is one query (or one per count), whatever the rows."""

from __future__ import annotations

from typing import Any

from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from fieldwork.models import ServiceRequest, WorkOrder


def _pk(user: Any) -> int | None:
    return getattr(user, "pk", None)


def _assigned(qs: QuerySet[Any], assigned_to: str, user: Any) -> QuerySet[Any]:
    """"me", "mine" (mine and nobody's), "none" or a user id; anything else: everyone's."""
    if assigned_to == "me":  # an API key is nobody's: none are its own
        return qs.filter(assigned_to_id=_pk(user)) if _pk(user) else qs.none()
    if assigned_to == "mine":
        return qs.filter(Q(assigned_to_id=_pk(user)) | Q(assigned_to__isnull=True))
    if assigned_to == "none":
        return qs.filter(assigned_to__isnull=True)
    if assigned_to.isdigit():
        return qs.filter(assigned_to_id=int(assigned_to))
    return qs


OPEN_REQUEST = [ServiceRequest.Status.OPEN, ServiceRequest.Status.IN_PROGRESS]


def request_queue(*, status: str = "", kind: str = "", assignee: str = "", user: Any = None) -> QuerySet[ServiceRequest]:
    """Open requests first, overdue first (oldest due time first), then the closed ones newest
    first. `status` "active" (the default view) is open and in progress; `assignee` "me",
    "none" or a user id."""
    qs = ServiceRequest.objects.select_related("client", "assigned_to")
    if status == "active":
        qs = qs.filter(status__in=OPEN_REQUEST)
    elif status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    return _assigned(qs, assignee, user).annotate(
        closed=ExpressionWrapper(~Q(status__in=OPEN_REQUEST), output_field=BooleanField()),
        is_overdue=ExpressionWrapper(Q(status__in=OPEN_REQUEST, due_by__lt=Now()), output_field=BooleanField()),
    ).order_by("closed", "due_by", "id")


def request_counts() -> dict[str, int]:
    """How many requests are open, in progress, overdue (open past their due time), resolved."""
    now = timezone.now()
    return ServiceRequest.objects.aggregate(
        open=Count("id", filter=Q(status=ServiceRequest.Status.OPEN)),
        in_progress=Count("id", filter=Q(status=ServiceRequest.Status.IN_PROGRESS)),
        overdue=Count("id", filter=Q(status__in=OPEN_REQUEST, due_by__lt=now)),
        resolved=Count("id", filter=Q(status=ServiceRequest.Status.RESOLVED)))


def work_orders(*, status: str = "", kind: str = "", assigned_to: str = "", user: Any = None) -> QuerySet[WorkOrder]:
    """Work orders by zone, then due date. `assigned_to` "me" (with "mine" the field list: the
    user's own and the unassigned ones), "none" or a user id."""
    qs = WorkOrder.objects.select_related("client", "client__zone", "meter", "assigned_to")
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    return _assigned(qs, assigned_to, user).order_by("client__zone__name", "due_on", "id")


def work_order_counts() -> dict[str, int]:
    today = timezone.localdate()
    return WorkOrder.objects.aggregate(
        open=Count("id", filter=Q(status=WorkOrder.Status.OPEN)),
        overdue=Count("id", filter=Q(status=WorkOrder.Status.OPEN, due_on__lt=today)),
        done=Count("id", filter=Q(status=WorkOrder.Status.DONE)),
        not_done=Count("id", filter=Q(status=WorkOrder.Status.NOT_DONE)))
