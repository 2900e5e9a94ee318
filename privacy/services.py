"""Writes for the privacy app: data-subject requests (made in the portal or recorded by staff),
their resolution, consent choices per purpose, and reminders of requests falling due."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, User
from accounts.services import audit
from clients.models import Client
from majismart.tenancy import connection
from notifications.models import Consent, NotificationSettings
from notifications.services import Outgoing, consent_record, notify
from privacy.erasure import client_pseudonymise
from privacy.models import DataExport, DataRequest, ErasureRecord
from tenants.selectors import current_policy_version

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise as StrOrPromise

MSG_DETAILS = "Tell us what is wrong and what it should say."
MSG_PURPOSES = "Choose at least one purpose."
MSG_OPEN_EXPORT = "Your data is already being prepared: it will appear below."
MSG_ALREADY_ERASED = "This account's personal data has already been erased."

# What a client may object to or ask to restrict. The purposes that match a consent topic take
# effect at once (the notifications app obeys consent); the rest are for staff to carry out.
PURPOSES: dict[str, tuple[StrOrPromise, str | None]] = {
    "sms": (Consent.Topic.SMS.label, Consent.Topic.SMS),
    "email": (Consent.Topic.EMAIL.label, Consent.Topic.EMAIL),
    "marketing": (Consent.Topic.MARKETING.label, Consent.Topic.MARKETING),
    "analytics": (Consent.Topic.ANALYTICS.label, Consent.Topic.ANALYTICS),
    "profiling": ("Comparing my consumption with my history to flag unusual readings", None),
    "other": ("Something else (say what in the details)", None),
}
# The choices a client makes in the privacy centre (withdraw or give consent, per purpose).
CONSENT_TOPICS = [Consent.Topic.SMS, Consent.Topic.EMAIL, Consent.Topic.MARKETING, Consent.Topic.ANALYTICS]
REMIND_WITHIN = timedelta(days=2)
EXPORT_STUCK_AFTER = timedelta(hours=2)  # the export task's time limit is one hour
REMIND_EVERY = timedelta(hours=20)


class PrivacyError(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _actor(actor: object) -> str:
    return str(getattr(actor, "email", actor) or "")


def _current_policy() -> str:
    return current_policy_version("privacy").version


@transaction.atomic
def request_create(*, client: Client, kind: str, actor: object, details: str = "", purposes: list[str] | None = None,
                   source: str = DataRequest.Source.PORTAL) -> DataRequest:
    """Log a request with its legal due date; an export starts being built at once, an objection
    or restriction withdraws the matching consents at once."""
    kind = DataRequest.Kind(kind)
    details = (details or "").strip()
    purposes = [p for p in dict.fromkeys(purposes or []) if p in PURPOSES]
    if ErasureRecord.objects.filter(client_id=client.pk).exists():
        raise PrivacyError(MSG_ALREADY_ERASED)
    if kind == DataRequest.Kind.CORRECTION and not details:
        raise PrivacyError(MSG_DETAILS, "details")
    if kind in (DataRequest.Kind.OBJECTION, DataRequest.Kind.RESTRICTION) and not purposes:
        raise PrivacyError(MSG_PURPOSES, "purposes")
    now = timezone.now()
    # One at a time; one stuck longer than a build can take (its worker died) no longer blocks.
    if kind == DataRequest.Kind.EXPORT and DataExport.objects.filter(
            client_id=client.pk, status=DataExport.Status.PENDING, created__gte=now - EXPORT_STUCK_AFTER).exists():
        raise PrivacyError(MSG_OPEN_EXPORT)
    req = DataRequest.objects.create(kind=kind, client=client, source=source, details=details, purposes=purposes,
                                     due_at=DataRequest.due_for(kind, now))
    audit(actor=actor, action=f"privacy.request_{kind}", object_repr=f"request {req.pk}", category="privacy",
          target=("client", client.pk), purposes=purposes, source=source)
    if kind == DataRequest.Kind.EXPORT:
        from privacy.exports import export_request

        export_request(client=client, actor=actor, request=req)
    topics: dict[str, bool] = {topic: False for p in purposes if (topic := PURPOSES[p][1])}
    if topics:
        consent_record(client_id=client.pk, choices=topics, source="privacy_request", actor=actor,
                       policy_version=_current_policy())
    return req


@transaction.atomic
def request_resolve(*, request: DataRequest, actor: object, status: str, resolution: str = "") -> DataRequest:
    """Close a request as done or refused, with what was done (a refusal needs its reasons)."""
    request = DataRequest.objects.select_for_update().get(pk=request.pk)
    status = DataRequest.Status(status)
    resolution = (resolution or "").strip()
    if not request.is_open:
        raise PrivacyError("This request is already closed.")
    if status == DataRequest.Status.OPEN:
        raise PrivacyError("Choose done or refused.", "status")
    if status == DataRequest.Status.REFUSED and not resolution:
        raise PrivacyError("Give the reasons for refusing: the client is told them.", "resolution")
    if request.kind == DataRequest.Kind.DELETION and status == DataRequest.Status.DONE \
            and not ErasureRecord.objects.filter(client_id=request.client_id).exists():
        raise PrivacyError("Erase the personal data first (the button above), then the request is done.")
    if not resolution:
        raise PrivacyError("Say what was done: the client sees it.", "resolution")
    request.status, request.resolution = status, resolution
    request.resolved_at, request.resolved_by = timezone.now(), _actor(actor)
    request.save(update_fields=["status", "resolution", "resolved_at", "resolved_by"])
    audit(actor=actor, action=f"privacy.request_{status}", object_repr=f"request {request.pk}", category="privacy",
          target=("client", request.client_id), kind=request.kind)
    return request


@transaction.atomic
def request_erase(*, request: DataRequest, actor: object) -> ErasureRecord:
    """Carry out a deletion request: erase what no law keeps, pseudonymise the rest, close it."""
    request = DataRequest.objects.select_for_update().get(pk=request.pk)
    if request.kind != DataRequest.Kind.DELETION:
        raise PrivacyError("Only a deletion request erases data.")
    record = client_pseudonymise(client=request.client, actor=actor, reason=ErasureRecord.Reason.REQUEST,
                                 request=request)
    if request.is_open:
        request.status, request.resolved_at, request.resolved_by = DataRequest.Status.DONE, timezone.now(), _actor(actor)
        request.resolution = ("Personal data erased. Bills, payments and meter readings are kept for the legal "
                              f"retention period under the pseudonym {record.pseudonym}, then erased.")
        request.save(update_fields=["status", "resolution", "resolved_at", "resolved_by"])
    return record


def consent_choices_save(*, client: Client, choices: dict[str, bool], actor: object, source: str = "portal") -> int:
    """The privacy centre's switches: give or withdraw consent per purpose (recorded, audited)."""
    wanted: dict[str, bool] = {topic: bool(choices.get(topic)) for topic in CONSENT_TOPICS}
    return len(consent_record(client_id=client.pk, choices=wanted, source=source, actor=actor,
                              policy_version=_current_policy()))


def _queue_link() -> str:
    domain = getattr(connection.tenant, "domain", "") or settings.BASE_DOMAIN
    port = getattr(settings, "SITE_PORT", "")
    scheme = settings.SITE_SCHEME
    return f"{scheme}://{domain}{':' + port if port and port not in ('80', '443') else ''}{reverse('privacy_requests')}"


@transaction.atomic
def requests_remind(*, now=None) -> int:  # type: ignore[no-untyped-def]
    """Email the owners when open requests are due within two days or overdue (at most daily)."""
    now = now or timezone.now()
    due = DataRequest.objects.select_for_update(skip_locked=True).filter(
        status=DataRequest.Status.OPEN, due_at__lte=now + REMIND_WITHIN)
    pending = [r for r in due if r.reminded_at is None or r.reminded_at <= now - REMIND_EVERY]
    if not pending:
        return 0
    overdue = sum(1 for r in due if r.due_at <= now)
    owners = User.objects.filter(role=Role.OWNER, is_active=True).exclude(email="")
    day = timezone.localdate(now).isoformat()
    values = {"count": str(due.count()), "overdue": str(overdue), "link": _queue_link(), "name": "", "account": ""}
    outgoing = [Outgoing(f"{day}:user:{owner.pk}", owner.email, dict(values)) for owner in owners]
    # To staff, about the provider's legal duties: sent like password resets, whether or not the
    # provider emails its clients (the setting is not saved).
    cfg = NotificationSettings.load()
    cfg.email_enabled = True
    notify(event="privacy_requests_due", channel="email", outgoing=outgoing, cfg=cfg)
    DataRequest.objects.filter(pk__in=[r.pk for r in pending]).update(reminded_at=now)
    return len(outgoing)
