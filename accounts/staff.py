"""The provider's team: invitations, roles, deactivation and handing over ownership.

Who may do what (the role map's "staff.manage" only says owner or manager; the rest is here):
- an owner manages every role;
- a manager manages everyone but owners: cannot invite an owner, make anyone an owner, or
  change or deactivate an owner;
- the last active owner cannot be demoted or deactivated, and nobody deactivates themselves;
- handing over ownership makes another active staff member owner (owners only); the giver may
  step down to manager in the same step.
API keys act with their role (a manager's key is a manager here). Every change is audited by
user id and role; names and emails stay out of the log's details.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Protocol

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from accounts.models import INVITE_DAYS, STAFF_ROLES, Role, StaffInvite, User, hash_invite_token
from accounts.permissions import has_capability
from accounts.services import actor_label, audit
from majismart.tenancy import connection

MSG_CANNOT_MANAGE = "Your role cannot manage staff."
MSG_NOT_STAFF_ROLE = "Choose one of: owner, manager, accountant, meter reader."
MSG_MANAGER_NO_OWNER = "Only an owner can make someone an owner."
MSG_MANAGER_TOUCHES_OWNER = "Only an owner can change or deactivate an owner."
MSG_LAST_OWNER = "This is the last active owner: hand over ownership to someone else first."
MSG_SELF_DEACTIVATE = "You cannot deactivate yourself."
MSG_EMAIL_TAKEN = "Someone with this email already has an account here."
MSG_EMAIL_DEACTIVATED = "This person's account is deactivated: reactivate it on the Team page instead."
MSG_EMAIL_INVITED = "This email has already been invited: resend the invitation instead."
MSG_NOT_ACCEPTED = "This person has not accepted the invitation yet: resend it instead."
MSG_NOT_PENDING = "This invitation was already accepted or revoked."
MSG_HANDOVER_TARGET = "Hand ownership over to another active member of staff."
MSG_HANDOVER_OWNER_ONLY = "Only an owner can hand over ownership."


class InviteUnusable(Exception):
    """The link cannot be used; `reason` is "unknown", "expired", "revoked" or "used"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _role_of(actor: object) -> str:
    return str(getattr(actor, "role", "") or "")


def _is_same_user(actor: object, user: User) -> bool:
    return isinstance(actor, User) and actor.pk == user.pk


def _require_manage(actor: object) -> None:
    if not has_capability(actor, "staff.manage"):
        raise PermissionDenied(MSG_CANNOT_MANAGE)


def grantable_roles(actor: object) -> list[str]:
    """The roles `actor` may give (invite with, or change someone to)."""
    if not has_capability(actor, "staff.manage"):
        return []
    roles = [Role.OWNER, Role.MANAGER, Role.ACCOUNTANT, Role.METER_READER]
    return [r.value for r in roles if _role_of(actor) == Role.OWNER or r != Role.OWNER]


def may_manage(actor: object, user: User) -> bool:
    """Whether `actor` may change this person at all (role, deactivate, invitation)."""
    if not has_capability(actor, "staff.manage") or user.role not in STAFF_ROLES:
        return False
    return _role_of(actor) == Role.OWNER or user.role != Role.OWNER


def _check_role(actor: object, role: str) -> None:
    if role not in STAFF_ROLES:
        raise ValidationError({"role": [MSG_NOT_STAFF_ROLE]})
    if role == Role.OWNER and _role_of(actor) != Role.OWNER:
        raise ValidationError({"role": [MSG_MANAGER_NO_OWNER]})


def _check_target(actor: object, user: User) -> None:
    _require_manage(actor)
    if user.role == Role.OWNER and _role_of(actor) != Role.OWNER:
        raise PermissionDenied(MSG_MANAGER_TOUCHES_OWNER)


def _other_active_owners(user: User) -> bool:
    return User.objects.filter(role=Role.OWNER, is_active=True).exclude(pk=user.pk).exists()


def _lock_owners() -> None:
    # Two owners demoting each other at the same moment must not leave none: the owner rows are
    # locked for the rest of the transaction before counting.
    list(User.objects.select_for_update().filter(role=Role.OWNER).values_list("pk", flat=True))


class _OnDomain(Protocol):
    @property
    def domain(self) -> str: ...


def invite_link(invite_token: str, tenant: _OnDomain | None = None) -> str:
    """The acceptance link on the provider's own domain (never the Host a request carried)."""
    from majismart.urls import domain_url

    tenant = tenant or connection.tenant
    return domain_url(tenant.domain, reverse("staff_invite_accept", args=[invite_token]))


def _new_token() -> tuple[str, str]:
    raw = secrets.token_urlsafe(32)
    return raw, hash_invite_token(raw)


def _send_invite(invite: StaffInvite, raw: str, actor: object) -> bool:
    """Emails the link (through notifications, like every message: its log keeps the email
    without the link). True when the email went."""
    from notifications.models import Message
    from notifications.services import Outgoing, send_now

    tenant = connection.tenant
    inviter = invite.invited_by.get_full_name() if invite.invited_by else actor_label(actor)
    values = {"provider": getattr(tenant, "name", "MajiSmart"), "name": "", "account": "",
              "role": invite.get_role_display(), "inviter": inviter, "days": str(INVITE_DAYS)}
    msg = send_now(event="staff_invite", channel="email",
                   outgoing=Outgoing(f"invite:{invite.pk}", invite.email, values),
                   secret_values={"link": invite_link(raw, tenant)})
    return msg.status in (Message.Status.SENT, Message.Status.DELIVERED)


def staff_invite(*, actor: object, email: str, role: str, full_name: str = "") -> tuple[StaffInvite, bool]:
    """Invites `email` with `role`: their (inactive) user and a 7-day single-use link, emailed
    once the rows are committed. `full_name` is only a suggestion the person confirms or corrects
    when accepting. Returns the invite and whether the email went."""
    try:
        invite, raw = _invite_create(actor=actor, email=email, role=role, full_name=full_name)
    except IntegrityError as exc:  # the same email invited twice at the same moment
        raise ValidationError({"email": [MSG_EMAIL_TAKEN]}) from exc
    return invite, _send_invite(invite, raw, actor)


@transaction.atomic
def _invite_create(*, actor: object, email: str, role: str, full_name: str) -> tuple[StaffInvite, str]:
    _require_manage(actor)
    email = (email or "").strip().lower()
    try:
        User._meta.get_field("email").clean(email, None)
    except ValidationError as exc:
        raise ValidationError({"email": exc.messages}) from exc
    _check_role(actor, role)
    existing = User.objects.filter(email=email).first()
    if existing is not None:
        if StaffInvite.objects.pending().filter(user=existing).exists():
            raise ValidationError({"email": [MSG_EMAIL_INVITED]})
        if existing.role in STAFF_ROLES and not existing.is_active:
            raise ValidationError({"email": [MSG_EMAIL_DEACTIVATED]})
        raise ValidationError({"email": [MSG_EMAIL_TAKEN]})
    full_name = (full_name or "").strip()
    if len(full_name) > 150:
        raise ValidationError({"full_name": ["At most 150 characters."]})
    user = User(email=email, role=role, is_active=False, full_name=full_name)
    user.set_unusable_password()
    user.save()
    raw, hashed = _new_token()
    now = timezone.now()
    invite = StaffInvite.objects.create(
        user=user, email=email, role=role, invited_by=actor if isinstance(actor, User) else None,
        token_hash=hashed, sent_at=now, expires_at=now + timedelta(days=INVITE_DAYS))
    audit(actor=actor, action="staff.invited", object_repr=f"user {user.pk}", target=("user", user.pk),
          role=role, invite=invite.pk)
    return invite, raw


def staff_invite_resend(*, actor: object, invite: StaffInvite) -> tuple[StaffInvite, bool]:
    """A new link, valid INVITE_DAYS from now; the old one stops working."""
    invite, raw = _invite_renew(actor=actor, invite=invite)
    return invite, _send_invite(invite, raw, actor)


def _pending_invite_locked(actor: object, invite: StaffInvite) -> StaffInvite:
    """The invitation, locked, once `actor` may act on it and it is still pending."""
    invite = StaffInvite.objects.select_for_update().get(pk=invite.pk)
    if invite.user is not None:
        _check_target(actor, invite.user)
    else:
        _require_manage(actor)
    if invite.accepted_at or invite.revoked_at:
        raise ValidationError({"detail": [MSG_NOT_PENDING]})
    return invite


@transaction.atomic
def _invite_renew(*, actor: object, invite: StaffInvite) -> tuple[StaffInvite, str]:
    invite = _pending_invite_locked(actor, invite)
    raw, hashed = _new_token()
    now = timezone.now()
    invite.token_hash, invite.sent_at, invite.expires_at = hashed, now, now + timedelta(days=INVITE_DAYS)
    invite.save(update_fields=["token_hash", "sent_at", "expires_at"])
    audit(actor=actor, action="staff.invite_resent", object_repr=f"user {invite.user_id}",
          target=("user", invite.user_id), invite=invite.pk)
    return invite, raw


@transaction.atomic
def staff_invite_revoke(*, actor: object, invite: StaffInvite) -> StaffInvite:
    """The link stops working and the invited (never activated) user goes, their email with them."""
    invite = _pending_invite_locked(actor, invite)
    user_id = invite.user_id
    invite.revoked_at = timezone.now()
    invite.email = ""  # nothing left to send: the address is not kept (the row only explains a dead link)
    invite.save(update_fields=["revoked_at", "email"])
    if invite.user is not None and not invite.user.is_active and not invite.user.has_usable_password():
        invite.user.delete()  # never logged in, never did anything: the email is free again
    audit(actor=actor, action="staff.invite_revoked", object_repr=f"user {user_id}", target=("user", user_id),
          invite=invite.pk)
    return invite


def invite_for_token(raw: str) -> StaffInvite:
    """The invite a link names, if it can still be used; InviteUnusable says why not."""
    invite = StaffInvite.objects.select_related("user").filter(token_hash=hash_invite_token(raw or "")).first()
    if invite is None:
        raise InviteUnusable("unknown")
    status = invite.status
    if status == StaffInvite.Status.ACCEPTED:
        raise InviteUnusable("used")
    if status != StaffInvite.Status.PENDING:
        raise InviteUnusable(status)
    if invite.user is None:
        raise InviteUnusable("revoked")
    return invite


@transaction.atomic
def staff_invite_accept(*, raw_token: str, full_name: str, password: str) -> User:
    """Sets the invited person's name and password and activates them; the link is spent."""
    invite = invite_for_token(raw_token)
    full_name = (full_name or "").strip()
    if not full_name:
        raise ValidationError({"full_name": ["Enter your name."]})
    if len(full_name) > 150:
        raise ValidationError({"full_name": ["At most 150 characters."]})
    user = invite.user
    assert user is not None
    user.full_name = full_name
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    # Single use: only one of two simultaneous submissions claims the invite.
    now = timezone.now()
    claimed = StaffInvite.objects.pending().filter(pk=invite.pk, token_hash=invite.token_hash,
                                                  expires_at__gt=now).update(accepted_at=now)
    if claimed != 1:
        raise InviteUnusable("used")
    user.set_password(password)
    user.is_active = True
    user.date_joined = now
    user.save(update_fields=["full_name", "password", "is_active", "date_joined"])
    audit(actor=user, action="staff.invite_accepted", object_repr=f"user {user.pk}", target=("user", user.pk),
          role=user.role, invite=invite.pk)
    return user


@transaction.atomic
def staff_change_role(*, actor: object, user: User, role: str) -> User:
    _check_target(actor, user)
    _check_role(actor, role)
    if role == user.role:
        return user
    _lock_owners()
    user.refresh_from_db(fields=["role", "is_active"])
    if user.role == Role.OWNER and user.is_active and not _other_active_owners(user):
        raise ValidationError({"role": [MSG_LAST_OWNER]})
    old = user.role
    user.role = role
    user.save(update_fields=["role"])
    StaffInvite.objects.pending().filter(user=user).update(role=role)
    audit(actor=actor, action="staff.role_changed", object_repr=f"user {user.pk}", target=("user", user.pk),
          old_role=old, role=role)
    return user


@transaction.atomic
def staff_deactivate(*, actor: object, user: User) -> User:
    """They cannot log in any more, and every session of theirs ends."""
    _check_target(actor, user)
    if _is_same_user(actor, user):
        raise ValidationError({"is_active": [MSG_SELF_DEACTIVATE]})
    if StaffInvite.objects.pending().filter(user=user).exists() or not user.has_usable_password():
        raise ValidationError({"is_active": [MSG_NOT_ACCEPTED]})
    _lock_owners()
    user.refresh_from_db(fields=["role", "is_active"])
    if not user.is_active:
        return user
    if user.role == Role.OWNER and not _other_active_owners(user):
        raise ValidationError({"is_active": [MSG_LAST_OWNER]})
    user.is_active = False
    user.session_version += 1
    user.save(update_fields=["is_active", "session_version"])
    audit(actor=actor, action="staff.deactivated", object_repr=f"user {user.pk}", target=("user", user.pk),
          role=user.role)
    return user


@transaction.atomic
def staff_reactivate(*, actor: object, user: User) -> User:
    _check_target(actor, user)
    if StaffInvite.objects.pending().filter(user=user).exists() or not user.has_usable_password():
        raise ValidationError({"is_active": [MSG_NOT_ACCEPTED]})
    if user.is_active:
        return user
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit(actor=actor, action="staff.reactivated", object_repr=f"user {user.pk}", target=("user", user.pk),
          role=user.role)
    return user


@transaction.atomic
def staff_hand_over(*, actor: object, user: User, step_down: bool = False) -> User:
    """Makes `user` (another active member of staff) an owner; with `step_down` the giving
    owner becomes a manager in the same step."""
    _require_manage(actor)
    if _role_of(actor) != Role.OWNER:
        raise PermissionDenied(MSG_HANDOVER_OWNER_ONLY)
    if _is_same_user(actor, user) or not user.is_active or user.role not in STAFF_ROLES:
        raise ValidationError({"user": [MSG_HANDOVER_TARGET]})
    _lock_owners()
    old = user.role
    if old != Role.OWNER:
        user.role = Role.OWNER
        user.save(update_fields=["role"])
    audit(actor=actor, action="staff.ownership_handed_over", object_repr=f"user {user.pk}",
          target=("user", user.pk), old_role=old, role=Role.OWNER, step_down=bool(step_down))
    if step_down and isinstance(actor, User):
        actor.refresh_from_db(fields=["role"])
        if actor.role == Role.OWNER:
            actor.role = Role.MANAGER
            actor.save(update_fields=["role"])
            audit(actor=actor, action="staff.role_changed", object_repr=f"user {actor.pk}",
                  target=("user", actor.pk), old_role=Role.OWNER, role=Role.MANAGER)
    return user


# --- the person's own profile ------------------------------------------------------------------
@transaction.atomic
def profile_update_name(*, user: User, full_name: str) -> User:
    full_name = (full_name or "").strip()
    if not full_name:
        raise ValidationError({"full_name": ["Enter your name."]})
    user.full_name = full_name
    user.full_clean(exclude=["password"], validate_unique=False)
    user.save(update_fields=["full_name"])
    audit(actor=user, action="profile.updated", object_repr=f"user {user.pk}", target=("user", user.pk),
          fields=["full_name"])
    return user


@transaction.atomic
def sessions_end_others(*, user: User) -> User:
    """Every other session of this user ends at its next request; the caller keeps the current
    one with update_session_auth_hash(request, user)."""
    User.objects.filter(pk=user.pk).update(session_version=F("session_version") + 1)
    user.refresh_from_db(fields=["session_version"])
    audit(actor=user, action="auth.other_sessions_ended", object_repr=f"user {user.pk}", target=("user", user.pk))
    return user

