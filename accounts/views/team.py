"""Settings → Team (owners and managers): who works here, invitations, roles, deactivation,
handing over ownership; and the public page where an invited person accepts."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.forms import InviteAcceptForm, StaffInviteForm
from accounts.models import INVITE_DAYS, Role, StaffInvite, User
from accounts.permissions import public, require_capability
from accounts.selectors import staff_list, staff_status
from accounts.staff import (
    InviteUnusable,
    grantable_roles,
    invite_for_token,
    may_manage,
    staff_change_role,
    staff_deactivate,
    staff_hand_over,
    staff_invite,
    staff_invite_accept,
    staff_invite_resend,
    staff_invite_revoke,
    staff_reactivate,
)

MSG_EMAIL_FAILED = ("The invitation is saved but the email could not be sent: check the email set-up, then "
                    "use Resend.")
UNUSABLE = {
    "unknown": ("This invitation link is not valid", "Check that you opened the whole link from the email, or "
                                                     "ask whoever invited you to send a new invitation."),
    "expired": ("This invitation has expired", f"Invitation links work for {INVITE_DAYS} days. Ask whoever "
                                               "invited you to resend it."),
    "revoked": ("This invitation was withdrawn", "It no longer works. If you should have access, ask the "
                                                 "provider's owner or manager to invite you again."),
    "used": ("This invitation was already used", "Each link works once. Log in with the email and password "
                                                 "you chose, or reset your password."),
}


def _first_error(exc: ValidationError) -> str:
    return "; ".join(m for msgs in exc.message_dict.values() for m in msgs) if hasattr(exc, "message_dict") \
        else "; ".join(exc.messages)


def _team_page(request: HttpRequest, form: StaffInviteForm | None = None, status: int = 200) -> HttpResponse:
    roles = grantable_roles(request.user)
    people = list(staff_list())
    is_owner = request.user.role == Role.OWNER  # type: ignore[union-attr]
    now = timezone.now()
    for person in people:
        # Display attributes for the template (invite_expires_at: staff_list()'s annotation).
        person_status = person.status = staff_status(person)  # type: ignore[attr-defined]
        expires = person.invite_expires_at  # type: ignore[attr-defined]
        person.invite_expired = bool(expires and expires <= now)  # type: ignore[attr-defined]
        person.manageable = may_manage(request.user, person) and person.pk != request.user.pk  # type: ignore[attr-defined]
        person.can_take_ownership = (  # type: ignore[attr-defined]
            is_owner and person_status == "active" and person.role != Role.OWNER and person.pk != request.user.pk)
    return render(request, "accounts/team.html", {
        "active": "settings", "people": people, "roles": [(r, dict(Role.choices)[r]) for r in roles],
        "form": form or StaffInviteForm(roles=roles), "is_owner": is_owner, "invite_days": INVITE_DAYS,
    }, status=status)


@require_capability("staff.manage")
def team(request: HttpRequest) -> HttpResponse:
    """GET: the team. POST: invite someone."""
    if request.method != "POST":
        return _team_page(request)
    form = StaffInviteForm(request.POST, roles=grantable_roles(request.user))
    if not form.is_valid():
        return _team_page(request, form, status=400)
    try:
        invite, sent = staff_invite(actor=request.user, email=form.cleaned_data["email"],
                                    role=form.cleaned_data["role"])
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return _team_page(request, form, status=400)
    if sent:
        messages.success(request, f"Invitation sent to {invite.email}. The link works for {INVITE_DAYS} days.")
    else:
        messages.warning(request, MSG_EMAIL_FAILED)
    return redirect("staff_team")


def _act(request: HttpRequest, action, success: str):  # type: ignore[no-untyped-def]
    try:
        action()
    except ValidationError as exc:
        messages.error(request, _first_error(exc))
    except PermissionDenied as exc:
        messages.error(request, str(exc) or "You cannot do that.")
    else:
        messages.success(request, success)
    return redirect("staff_team")


def _person(pk: int) -> User:
    return get_object_or_404(staff_list(), pk=pk)


@require_POST
@require_capability("staff.manage")
def invite_resend(request: HttpRequest, pk: int) -> HttpResponse:
    invite = get_object_or_404(StaffInvite.objects.pending(), pk=pk)
    try:
        _invite, sent = staff_invite_resend(actor=request.user, invite=invite)
    except ValidationError as exc:
        messages.error(request, _first_error(exc))
        return redirect("staff_team")
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return redirect("staff_team")
    if sent:
        messages.success(request, f"A new link went to {invite.email}; the old one no longer works.")
    else:
        messages.warning(request, MSG_EMAIL_FAILED)
    return redirect("staff_team")


@require_POST
@require_capability("staff.manage")
def invite_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    invite = get_object_or_404(StaffInvite.objects.pending(), pk=pk)
    return _act(request, lambda: staff_invite_revoke(actor=request.user, invite=invite),
                f"The invitation to {invite.email} was withdrawn; its link no longer works.")


@require_POST
@require_capability("staff.manage")
def change_role(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person(pk)
    role = request.POST.get("role", "")
    label = dict(Role.choices).get(role, role)
    return _act(request, lambda: staff_change_role(actor=request.user, user=person, role=role),
                f"{person.get_full_name()} is now {label.lower()}.")


@require_POST
@require_capability("staff.manage")
def deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person(pk)
    return _act(request, lambda: staff_deactivate(actor=request.user, user=person),
                f"{person.get_full_name()} can no longer log in; their sessions have ended.")


@require_POST
@require_capability("staff.manage")
def reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person(pk)
    return _act(request, lambda: staff_reactivate(actor=request.user, user=person),
                f"{person.get_full_name()} can log in again.")


@require_POST
@require_capability("staff.manage")
def hand_over(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person(pk)
    step_down = request.POST.get("step_down") == "1"
    done = f"{person.get_full_name()} is now an owner." + (" You are now a manager." if step_down else "")
    return _act(request, lambda: staff_hand_over(actor=request.user, user=person, step_down=step_down), done)


@public
@never_cache
def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Public: the invited person sets their name and password, and lands on the dashboard."""
    try:
        invite = invite_for_token(token)
    except InviteUnusable as exc:
        title, text = UNUSABLE[exc.reason]
        return render(request, "accounts/invite_accept.html", {"unusable": True, "title": title, "text": text},
                      status=410 if exc.reason != "unknown" else 404)
    if request.method == "POST":
        form = InviteAcceptForm(request.POST)
        if form.is_valid():
            try:
                user = staff_invite_accept(raw_token=token, full_name=form.cleaned_data["full_name"],
                                           password=form.cleaned_data["password1"])
            except InviteUnusable as exc:
                title, text = UNUSABLE[exc.reason]
                return render(request, "accounts/invite_accept.html",
                              {"unusable": True, "title": title, "text": text}, status=410)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    target = {"password": "password1"}.get(field, field)
                    for error in errors:
                        form.add_error(target if target in form.fields else None, error)
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                provider = request.tenant  # type: ignore[attr-defined]  # django-tenants' middleware sets it
                messages.success(request, f"Welcome to {getattr(provider, 'name', 'MajiSmart')}!")
                return redirect("dashboard")
    else:
        form = InviteAcceptForm(initial={"full_name": invite.user.full_name if invite.user else ""})
    return render(request, "accounts/invite_accept.html", {
        "form": form, "invite": invite, "role_label": invite.get_role_display()})
