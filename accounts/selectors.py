"""Reads for accounts: the audit log viewer's search, the team list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery

from accounts.models import STAFF_ROLES, AuditCategory, AuditEvent, StaffInvite, User


@dataclass(frozen=True)
class AuditTarget:
    """A kind of record the audit log can be filtered by: `resolve` turns what staff type (a
    client's account number) into the record's id; `url_name` links an event to the record.
    Registered by the app that owns the record (accounts sits below it and imports nothing of it)."""

    label: str
    resolve: Callable[[str], int | None]
    url_name: str = ""


AUDIT_TARGETS: dict[str, AuditTarget] = {}


def _local_day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw.strip()) if raw and raw.strip() else None
    except ValueError:
        return None


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    category: str = ""
    action: str = ""
    target_type: str = ""
    target_id: int | None = None
    target_text: str = ""
    target_unknown: bool = False
    start: date | None = None
    end: date | None = None

    @classmethod
    def from_query(cls, q: object) -> AuditFilters:
        get = q.get  # type: ignore[attr-defined]
        category = str(get("category", "") or "")
        target_type, target_id, unknown = "", None, False
        text = str(get("target", "") or "").strip()
        if text:
            kind = str(get("target_type", "") or "client")
            target = AUDIT_TARGETS.get(kind)
            target_id = target.resolve(text) if target else None
            target_type, unknown = kind, target_id is None
        elif str(get("target_id", "") or "").isdigit():
            target_type, target_id = str(get("target_type", "") or "client"), int(get("target_id"))
        return cls(actor=str(get("actor", "") or "").strip(), action=str(get("action", "") or "").strip(),
                   category=category if category in AuditCategory.values else "",
                   target_type=target_type, target_id=target_id, target_text=text, target_unknown=unknown,
                   start=_local_day(str(get("from", "") or "")), end=_local_day(str(get("to", "") or "")))


def _day_start(day: date) -> datetime:
    # Staff pick days in Nairobi time; rows are stored in UTC.
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


def audit_search(filters: AuditFilters) -> QuerySet[AuditEvent]:
    """Newest first. Actor and action match from their start (an email, `client.`)."""
    qs = AuditEvent.objects.all()
    if filters.target_unknown:
        return qs.none()
    if filters.actor:
        qs = qs.filter(actor__istartswith=filters.actor)
    if filters.category:
        qs = qs.filter(category=filters.category)
    if filters.action:
        qs = qs.filter(action__startswith=filters.action)
    if filters.target_id is not None:
        qs = qs.filter(target_type=filters.target_type, target_id=filters.target_id)
    if filters.start:
        qs = qs.filter(created__gte=_day_start(filters.start))
    if filters.end:
        qs = qs.filter(created__lt=_day_start(filters.end + timedelta(days=1)))
    return qs.order_by("-created", "-id")


def staff_list() -> QuerySet[User]:
    """The provider's staff (never its clients), invited people included, by email (names are
    encrypted, so not sortable in SQL). Each row carries `invite_id` and `invite_expires_at` of
    its pending invitation (None once accepted)."""
    pending = StaffInvite.objects.pending().filter(user=OuterRef("pk")).order_by("-created")
    return (User.objects.filter(role__in=STAFF_ROLES)
            .annotate(invite_id=Subquery(pending.values("pk")[:1]),
                      invite_expires_at=Subquery(pending.values("expires_at")[:1]))
            .order_by("email", "pk"))


def staff_status(user: User) -> str:
    """"active", "invited" (their invitation not yet accepted, expired or not) or "deactivated"."""
    if getattr(user, "invite_id", None):
        return "invited"
    return "active" if user.is_active else "deactivated"
