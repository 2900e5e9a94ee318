"""Writes for accounts: API keys, the audit trail, the sign-up hand-off login."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.middleware import current_request_context
from accounts.models import APIKey, AuditCategory, AuditEvent, Role, User, hash_api_key
from majismart.tenancy import connection

HANDOFF_MAX_AGE = 120  # seconds between sign-up on the platform domain and landing on the provider's

MSG_BAD_CATEGORY = "Unknown audit category {value!r}."
# Actions whose category is not the default "change" when the caller does not say.
_SETTINGS_ACTIONS = frozenset({
    "api_key.created", "api_key.revoked", "billing_rules.updated", "clients.numbering_changed",
    "notifications.template_changed", "notifications.template_reset", "notifications.settings_changed",
    "payments.settings_changed", "payments.c2b_registered", "payments.c2b_register_failed",
    "provider.branding_changed", "tariff.created", "clients.category_added", "clients.zone_added",
})


def _category_for(action: str) -> str:
    if action in _SETTINGS_ACTIONS or action.endswith(".settings_changed"):
        return AuditCategory.SETTINGS
    if action.startswith("auth."):
        return AuditCategory.AUTH
    if action.startswith("api_key."):
        return AuditCategory.API
    if action.startswith("privacy."):
        return AuditCategory.PRIVACY
    if action.endswith((".viewed", ".listed", ".searched")):
        return AuditCategory.ACCESS
    if action.endswith(".exported"):
        return AuditCategory.EXPORT
    return AuditCategory.CHANGE


def actor_label(actor: object) -> str:
    """How the log names who did it: a user's login email, an API key by name and prefix, or
    the text given (a Celery job, a command, "system")."""
    api_key = getattr(actor, "api_key", None)
    if isinstance(api_key, APIKey):
        return f"API key {api_key.name} (mjs_{api_key.prefix})"
    return str(getattr(actor, "email", actor) or "")


def actor_user(actor: object) -> User | None:
    """Who to record as having done it (created_by, reviewed_by...): the actor when it is a saved
    user; nobody for an API key, a Celery job, a command or "system"."""
    return cast("User | None", actor) if getattr(actor, "pk", None) else None


def audit(*, actor: object, action: str, object_repr: str = "", category: str | None = None,
          target: object = None, **extra: object) -> AuditEvent:
    """One row of the provider's audit log, in the current schema.

    `target` is a model instance or a (type, id) pair ("client", 42) the event is about, so a
    record's history can be listed. object_repr and `extra` must not carry personal values
    (names, phones, emails of clients): pass account numbers, ids and the names of the fields
    that changed. The current request's IP address and user agent are added (none in Celery).
    """
    if category is None:
        category = _category_for(action)
    elif category not in AuditCategory.values:
        raise ValueError(MSG_BAD_CATEGORY.format(value=category))
    target_type, target_id = "", None
    if isinstance(target, tuple):
        target_type, target_id = str(target[0]), target[1]
    elif target is not None:
        target_type, target_id = target._meta.model_name, target.pk  # type: ignore[attr-defined]
    context = current_request_context()
    return AuditEvent.objects.create(
        actor=actor_label(actor)[:254], action=action, category=category, object_repr=object_repr[:200],
        target_type=target_type, target_id=target_id, extra_data=extra,
        ip=context.ip if context else "", user_agent=context.user_agent if context else "",
    )


PURGE_SETTING = "majismart.audit_purge"


def audit_purge_before(*, cutoff: datetime) -> int:
    """Delete audit rows created before `cutoff` (the retention job: audit logs are kept 12
    months) and return how many went. The only way rows leave the append-only table: the
    trigger lets a DELETE through only while this transaction has the purge setting on, and it
    is turned off again before returning, so nothing later in an outer transaction can delete."""
    if timezone.is_naive(cutoff):
        raise ValueError("cutoff must be an aware datetime")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, 'on', true)", [PURGE_SETTING])
        try:
            deleted, _ = AuditEvent.objects.filter(created__lt=cutoff).delete()
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, 'off', true)", [PURGE_SETTING])
        if deleted:
            audit(actor="retention", action="audit.purged", category=AuditCategory.PRIVACY,
                  object_repr=f"{deleted} audit rows", cutoff=cutoff.isoformat(), deleted=deleted)
    return deleted


ERASE_SETTING = "majismart.audit_erase"


def audit_actors_replace(*, actors: dict[str, str]) -> int:
    """Put a pseudonym in place of who did it (an erased client's login, a closed provider's
    staff) and forget their IP address and user agent; what happened stays. The trigger lets an
    UPDATE through only of those columns and only while this setting is on, and it is turned off
    again before returning."""
    if not actors:
        return 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, 'on', true)", [ERASE_SETTING])
        try:
            return sum(AuditEvent.objects.filter(actor=old).update(actor=new, ip="", user_agent="")
                       for old, new in actors.items())
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, 'off', true)", [ERASE_SETTING])


API_KEY_AUDIT_WINDOW = 3600  # seconds: one "api_key.used" row per key per hour


def api_key_used(*, api_key: APIKey, method: str, path: str) -> None:
    """Counts a request made with `api_key`; the first request of each hour writes one
    "api_key.used" row (with the count of the key's requests in the hour before), so a field
    app posting thousands of readings does not write thousands of rows. Requests that read or
    change personal data are audited on their own, one row each, by the views."""
    now = timezone.now()
    hour = int(now.timestamp()) // API_KEY_AUDIT_WINDOW
    count_key = f"audit:api_key:{api_key.pk}:{hour}"
    if cache.add(count_key, 1, timeout=API_KEY_AUDIT_WINDOW * 3):
        previous = cache.get(f"audit:api_key:{api_key.pk}:{hour - 1}")
        extra: dict[str, Any] = {"method": method, "path": path[:200], "role": api_key.role}
        if previous is not None:
            extra["requests_previous_hour"] = previous
        audit(actor=f"API key {api_key.name} (mjs_{api_key.prefix})", action="api_key.used",
              category=AuditCategory.API, object_repr=str(api_key), target=api_key, **extra)
    else:
        try:
            cache.incr(count_key)
        except ValueError:  # expired between add and incr: the next request starts a new count
            pass


@transaction.atomic
def api_key_create(*, name: str, role: str = Role.MANAGER, created_by: User | None = None) -> tuple[APIKey, str]:
    """Returns the key and its raw value, which is never stored and cannot be shown again."""
    prefix, raw = APIKey.generate()
    key = APIKey(name=name.strip(), prefix=prefix, hashed_key=hash_api_key(raw), role=role, created_by=created_by)
    key.full_clean()
    key.save()
    audit(actor=created_by or "operator", action="api_key.created", object_repr=str(key), target=key, role=role)
    return key, raw


@transaction.atomic
def api_key_revoke(*, api_key: APIKey, actor: object) -> APIKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit(actor=actor, action="api_key.revoked", object_repr=str(api_key), target=api_key)
    return api_key


def _handoff_salt() -> str:
    # Bound to the schema: a token minted for provider A is worthless on provider B's domain.
    return f"majismart.handoff:{connection.schema_name}"


def handoff_token_make(user: User) -> str:
    """A short-lived, single-use token that logs `user` in on their provider's own domain."""
    last_login = user.last_login.isoformat() if user.last_login else ""
    return signing.TimestampSigner(salt=_handoff_salt()).sign_object({"u": user.pk, "l": last_login})


def handoff_token_user(token: str) -> User | None:
    try:
        data = signing.TimestampSigner(salt=_handoff_salt()).unsign_object(token, max_age=HANDOFF_MAX_AGE)
    except signing.BadSignature:
        return None
    user = User.objects.filter(pk=data.get("u"), is_active=True).first()
    if user is None:
        return None
    # Single use: the token is bound to last_login, and claiming it moves last_login in one
    # conditional UPDATE, so two simultaneous uses cannot both succeed.
    current = user.last_login.isoformat() if user.last_login else ""
    if current != data.get("l"):
        return None
    claimed = User.objects.filter(pk=user.pk, last_login=user.last_login).update(last_login=timezone.now())
    if claimed != 1:
        return None
    user.refresh_from_db(fields=["last_login"])
    return user


def user_language_set(*, user: User, language: str) -> User:
    """A staff member's own language ("": the provider's default), from their profile page."""
    if language != user.language:
        user.language = language
        user.full_clean(exclude=[f.name for f in User._meta.fields if f.name != "language"])
        user.save(update_fields=["language"])
    return user
