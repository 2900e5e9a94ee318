"""Writes for accounts: API keys, the audit trail, the sign-up hand-off login."""

from __future__ import annotations

from django.core import signing
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import APIKey, AuditEvent, Role, User, hash_api_key

HANDOFF_MAX_AGE = 120  # seconds between sign-up on the platform domain and landing on the provider's


def audit(*, actor: object, action: str, object_repr: str = "", **extra: object) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=str(getattr(actor, "email", actor) or ""), action=action,
        object_repr=object_repr[:200], extra_data=extra,
    )


@transaction.atomic
def api_key_create(*, name: str, role: str = Role.MANAGER, created_by: User | None = None) -> tuple[APIKey, str]:
    """Returns the key and its raw value, which is never stored and cannot be shown again."""
    prefix, raw = APIKey.generate()
    key = APIKey(name=name.strip(), prefix=prefix, hashed_key=hash_api_key(raw), role=role, created_by=created_by)
    key.full_clean()
    key.save()
    audit(actor=created_by or "operator", action="api_key.created", object_repr=str(key), role=role)
    return key, raw


@transaction.atomic
def api_key_revoke(*, api_key: APIKey, actor: object) -> APIKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit(actor=actor, action="api_key.revoked", object_repr=str(api_key))
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
