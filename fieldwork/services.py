"""Writes of field work: the only place work orders and service requests change."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.permissions import has_capability
from accounts.services import audit
from billing.selectors import client_balance
from billing.services import sequence_take
from clients.models import Client
from clients.services import client_update
from fieldwork import notices
from fieldwork.models import FieldSettings, ServiceRequest, ServiceRequestEvent, WorkOrder
from fieldwork.signals import work_order_finished
from meters.alerts import leak_episode_locked, leak_episode_reported
from meters.models import LeakEpisode, Meter, Reading
from meters.services import readings_record

MSG_ALREADY_FINISHED = "Work order {ref} is already {status} ({when}): it cannot be completed again."
MSG_NOT_OPEN = "Service request {ref} is {status}: it cannot change any more."
MSG_READING_NEEDED = "Enter the meter reading."
MSG_REASON_NEEDED = "Say why the work could not be done."
MSG_RESOLUTION_NEEDED = "Write what was done to resolve it."
MSG_FUTURE = "The time cannot be in the future."
MSG_NOT_STAFF = "Requests can only be assigned to active staff."
MSG_NOT_FIELD_STAFF = "Work orders can only be assigned to active staff who may complete them."
CLIENT_STATUS_AFTER = {WorkOrder.Kind.DISCONNECT: Client.Status.DISCONNECTED,
                       WorkOrder.Kind.RECONNECT: Client.Status.ACTIVE}
OPEN_REQUEST = (ServiceRequest.Status.OPEN, ServiceRequest.Status.IN_PROGRESS)


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def _when(moment: datetime | None) -> str:
    return f"{timezone.localtime(moment):%d %b %Y %H:%M}" if moment else ""


# --- work orders -------------------------------------------------------------------------------
def work_order_reference() -> str:
    """WO-2026-000123: per provider and year, gapless (taken in the transaction that stores it)."""
    year = timezone.localdate().year
    return f"WO-{year}-{sequence_take(f'WO-{year}'):06d}"


def work_order_open(*, client: Client, kind: str, due_on: date, actor: Any = None, source: str | None = None,
                    instructions: str = "", balance: Decimal | None = None, meter: Meter | None = None,
                    service_request_id: int | None = None) -> WorkOrder:
    """A work order for the field staff. With `source` ("disconnection:42"), at most one per
    source ever: a second call (a retried task) returns the first one."""
    if source:
        existing = WorkOrder.objects.filter(source=source).first()
        if existing is not None:
            return existing
    if meter is None:
        meter = client.meters.filter(status=Meter.Status.ACTIVE).order_by("installed_on", "id").first()
    try:
        with transaction.atomic():
            order = WorkOrder.objects.create(
                reference=work_order_reference(), kind=kind, client=client, meter=meter, source=source or None,
                instructions=instructions, balance=balance, due_on=due_on, service_request_id=service_request_id,
                created_by=_user(actor))
    except IntegrityError:  # the same source opened concurrently: theirs stands
        if source:
            return WorkOrder.objects.get(source=source)
        raise
    audit(actor=actor or "system", action="work_order.opened", object_repr=order.reference, target=client,
          kind=kind, work_order=order.pk)
    return order


def work_order_assign(*, order: WorkOrder, assignee: Any, actor: Any) -> WorkOrder:
    if assignee is not None and not (assignee.is_active and has_capability(assignee, "work_orders.complete")):
        raise ValidationError({"assigned_to": [MSG_NOT_FIELD_STAFF]})
    order.assigned_to = assignee
    order.save(update_fields=["assigned_to"])
    audit(actor=actor, action="work_order.assigned", object_repr=order.reference, target=order.client,
          work_order=order.pk, assigned_to=getattr(assignee, "email", None))
    return order


def _locked_open(order: WorkOrder) -> WorkOrder:
    # Lock the order: two officers (or a retried phone request) finishing the same order must
    # not both record a reading and change the client.
    order = WorkOrder.objects.select_for_update(of=("self",)).select_related("client", "meter").get(pk=order.pk)
    if order.status != WorkOrder.Status.OPEN:
        raise ValidationError({"detail": [MSG_ALREADY_FINISHED.format(
            ref=order.reference, status=order.get_status_display().lower(), when=_when(order.done_at))]})
    return order


def _finished(order: WorkOrder) -> None:
    transaction.on_commit(lambda: work_order_finished.send(sender=WorkOrder, order=order))


def _record_reading(order: WorkOrder, value: object, done_at: datetime, actor: Any) -> Reading | None:
    """The reading through the normal pipeline (checked against the meter's last, flagged when odd)."""
    if order.meter is None:
        return None
    if value in (None, ""):
        raise ValidationError({"reading": [MSG_READING_NEEDED]})
    result = readings_record([{"meter": order.meter.serial, "value": value, "read_at": done_at}],
                             source=Reading.Source.MANUAL, user=_user(actor))
    if result.errors:
        errors = result.errors[0]["errors"]
        raise ValidationError({("reading" if k in ("value", "meter") else "done_at" if k == "read_at" else k): v
                               for k, v in errors.items()})
    recorded = (result.created or result.repeats)[0]
    return Reading.objects.get(pk=recorded.id)


@transaction.atomic
def work_order_complete(*, order: WorkOrder, actor: Any, reading: object = None, done_at: datetime | None = None,
                        note: str = "", photo: UploadedFile | None = None) -> WorkOrder:
    """Done: the reading recorded, the client disconnected or reconnected by a disconnect or
    reconnect order (through clients.services, audited); work_order_finished after commit."""
    order = _locked_open(order)
    done_at = done_at or timezone.now()
    if done_at > timezone.now():
        raise ValidationError({"done_at": [MSG_FUTURE]})
    order.reading = _record_reading(order, reading, done_at, actor)
    order.status, order.done_at, order.note, order.completed_by = WorkOrder.Status.DONE, done_at, note, _user(actor)
    fields = ["reading", "status", "done_at", "note", "completed_by"]
    if photo:
        order.photo = photo
        fields.append("photo")
    order.save(update_fields=fields)
    new_status = CLIENT_STATUS_AFTER.get(order.kind)  # type: ignore[call-overload]
    if new_status and order.client.status != new_status:
        client_update(client=order.client, actor=actor, status=new_status)
    audit(actor=actor, action="work_order.completed", object_repr=order.reference, target=order.client,
          work_order=order.pk, kind=order.kind, reading=order.reading_id)
    _finished(order)
    return order


@transaction.atomic
def work_order_not_done(*, order: WorkOrder, actor: Any, reason: str) -> WorkOrder:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [MSG_REASON_NEEDED]})
    order = _locked_open(order)
    order.status, order.not_done_reason = WorkOrder.Status.NOT_DONE, reason[:300]
    order.done_at, order.completed_by = timezone.now(), _user(actor)
    order.save(update_fields=["status", "not_done_reason", "done_at", "completed_by"])
    audit(actor=actor, action="work_order.not_done", object_repr=order.reference, target=order.client,
          work_order=order.pk, kind=order.kind)
    _finished(order)
    return order


def work_order_cancel(*, order_id: int, reason: str, actor: Any = None) -> bool:
    """Withdraw an order still open (its reason: paid, on a plan); False when it was already
    finished or withdrawn. No work_order_finished: nothing was done in the field."""
    with transaction.atomic():
        order = (WorkOrder.objects.select_for_update(of=("self",)).select_related("client")
                 .filter(pk=order_id, status=WorkOrder.Status.OPEN).first())
        if order is None:
            return False
        order.status, order.not_done_reason = WorkOrder.Status.CANCELLED, reason[:300]
        order.save(update_fields=["status", "not_done_reason"])
        audit(actor=actor or "system", action="work_order.cancelled", object_repr=order.reference,
              target=order.client, work_order=order.pk, kind=order.kind, reason=reason)
    return True


# --- service levels ----------------------------------------------------------------------------
LEVEL_FIELDS = ("leak_hours", "no_water_hours", "billing_hours", "meter_hours", "other_hours")


@transaction.atomic
def field_settings_update(*, actor: Any, **hours: int) -> FieldSettings:
    """The provider's service levels (hours from a request to its due time, by kind); requests
    made before keep their due time."""
    levels = FieldSettings.objects.select_for_update().get(pk=FieldSettings.load().pk)
    before = {name: getattr(levels, name) for name in LEVEL_FIELDS}
    for name, value in hours.items():
        if name not in LEVEL_FIELDS:
            raise ValueError(name)
        setattr(levels, name, value)
    levels.full_clean()
    levels.save()
    changed = {name: [before[name], getattr(levels, name)] for name in LEVEL_FIELDS if before[name] != getattr(levels, name)}
    if changed:
        audit(actor=actor, action="fieldwork.service_levels_changed", object_repr="service levels", changed=changed)
    return levels


# --- service requests --------------------------------------------------------------------------
def service_request_reference() -> str:
    """SR-2026-000123: per provider and year, gapless."""
    year = timezone.localdate().year
    return f"SR-{year}-{sequence_take(f'SR-{year}'):06d}"


def _event(request: ServiceRequest, actor: Any, note: str = "") -> None:
    ServiceRequestEvent.objects.create(request=request, status=request.status, note=note, actor=_user(actor))


@transaction.atomic
def service_request_create(*, client: Client, kind: str, description: str, actor: Any,
                           channel: str = ServiceRequest.Channel.PORTAL, photo: UploadedFile | None = None) -> ServiceRequest:
    """A request with its reference and due time (the provider's service level for its kind);
    the client is told it was received."""
    request = ServiceRequest(reference=service_request_reference(), client=client, kind=kind, channel=channel,
                             description=description, photo=photo or None,
                             due_by=timezone.now() + FieldSettings.load().due_after(kind), created_by=_user(actor))
    request.full_clean(exclude=["photo", "assigned_to", "created_by"])
    request.save()
    _event(request, actor, f"Received ({request.get_channel_display()})")
    audit(actor=actor, action="service_request.created", object_repr=request.reference, target=client,
          kind=kind, channel=channel)
    notices.request_received(request)
    return request


def _locked_request(request: ServiceRequest) -> ServiceRequest:
    # Lock the request: two staff changing it at once must not both write history on a stale status.
    request = ServiceRequest.objects.select_for_update().select_related("client").get(pk=request.pk)
    if request.status not in OPEN_REQUEST:
        raise ValidationError({"detail": [MSG_NOT_OPEN.format(ref=request.reference,
                                                               status=request.get_status_display().lower())]})
    return request


@transaction.atomic
def service_request_assign(*, request: ServiceRequest, assignee: Any, actor: Any) -> ServiceRequest:
    if assignee is not None and not has_capability(assignee, "dashboard.view"):
        raise ValidationError({"assignee": [MSG_NOT_STAFF]})
    request = _locked_request(request)
    request.assigned_to = assignee
    if assignee is not None:
        request.status = ServiceRequest.Status.IN_PROGRESS
    request.save(update_fields=["assigned_to", "status"])
    name = assignee.get_full_name() or assignee.email if assignee is not None else "nobody"
    _event(request, actor, f"Assigned to {name}")
    audit(actor=actor, action="service_request.assigned", object_repr=request.reference, target=request.client,
          assigned_to=getattr(assignee, "email", None))
    return request


@transaction.atomic
def service_request_progress(*, request: ServiceRequest, actor: Any, note: str = "") -> ServiceRequest:
    request = _locked_request(request)
    request.status = ServiceRequest.Status.IN_PROGRESS
    request.save(update_fields=["status"])
    _event(request, actor, note)
    audit(actor=actor, action="service_request.in_progress", object_repr=request.reference, target=request.client)
    return request


@transaction.atomic
def service_request_resolve(*, request: ServiceRequest, resolution: str, actor: Any) -> ServiceRequest:
    resolution = (resolution or "").strip()
    if not resolution:
        raise ValidationError({"resolution": [MSG_RESOLUTION_NEEDED]})
    request = _locked_request(request)
    request.status, request.resolution, request.resolved_at = ServiceRequest.Status.RESOLVED, resolution, timezone.now()
    request.save(update_fields=["status", "resolution", "resolved_at"])
    _event(request, actor, resolution)
    audit(actor=actor, action="service_request.resolved", object_repr=request.reference, target=request.client)
    notices.request_resolved(request)
    return request


@transaction.atomic
def service_request_cancel(*, request: ServiceRequest, reason: str, actor: Any) -> ServiceRequest:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [MSG_REASON_NEEDED]})
    request = _locked_request(request)
    request.status = ServiceRequest.Status.CANCELLED
    request.save(update_fields=["status"])
    _event(request, actor, reason)
    audit(actor=actor, action="service_request.cancelled", object_repr=request.reference, target=request.client)
    return request


@transaction.atomic
def service_request_work_order(*, request: ServiceRequest, actor: Any, due_on: date | None = None,
                               instructions: str = "") -> WorkOrder:
    """A field visit for the request (kind service); the request is in progress from then."""
    request = _locked_request(request)
    order = work_order_open(client=request.client, kind=WorkOrder.Kind.SERVICE, actor=actor,
                            due_on=due_on or timezone.localtime(request.due_by).date(),
                            instructions=instructions or f"{request.get_kind_display()} reported ({request.reference}).",
                            service_request_id=request.pk, balance=client_balance(request.client_id))
    request.status = ServiceRequest.Status.IN_PROGRESS
    request.save(update_fields=["status"])
    _event(request, actor, f"Work order {order.reference}")
    return order


# --- leak alerts: the client's "report it as a leak" --------------------------------------------
LEAK_DESCRIPTION = "Reported from the leak alert: {m3} m³ used since {since} on meter {meter}."
LEAK_ACTOR = "client (leak alert link)"


@transaction.atomic
def leak_report(*, episode: LeakEpisode, note: str = "") -> tuple[ServiceRequest, bool]:
    """The client reports an alert as a leak from its link: one leak request per episode, the
    second click finds the first. Returns (the request, made now)."""
    # Lock: two clicks at once must not both find the episode unreported and make two requests.
    episode = leak_episode_locked(episode.pk)
    if episode.reported_at:
        existing = ServiceRequest.objects.filter(reference=episode.report_reference).first()
        if existing is not None:
            return existing, False
    client = episode.meter.client
    if client is None:
        raise ValidationError({"detail": ["This meter has no client."]})
    description = LEAK_DESCRIPTION.format(m3=f"{episode.m3_since:.3f}", meter=episode.meter.serial,
                                          since=f"{timezone.localtime(episode.started):%d %b %Y}")
    if note.strip():
        description += f"\n\n{note.strip()[:500]}"
    request = service_request_create(client=client, kind=ServiceRequest.Kind.LEAK, description=description,
                                     actor=LEAK_ACTOR, channel=ServiceRequest.Channel.SMS)
    leak_episode_reported(episode=episode, reference=request.reference)
    return request, True
