"""The team: invitations (7 days, single use, resend, revoke), roles, deactivation, handing over
ownership; the rules (owners manage all, managers all but owners, the last active owner stays,
nobody deactivates themselves); the same rules through /api/v1/staff/ for keys and sessions;
cross-provider isolation; the Settings → Team page and the invitation page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import AuditEvent, Role, StaffInvite, User
from accounts.services import api_key_create
from accounts.staff import (
    InviteUnusable,
    invite_for_token,
    staff_change_role,
    staff_deactivate,
    staff_hand_over,
    staff_invite,
    staff_invite_accept,
    staff_invite_resend,
    staff_invite_revoke,
    staff_reactivate,
)
from tests.conftest import API_KEYS, PASSWORD, api_client, host_of, login

NEW_PASSWORD = "river-stone-77-blue"
LINK_RE = re.compile(r"https?://[^\s]+/accounts/invite/([^/\s]+)/")


def _people(*emails: str) -> list[User]:
    return [User.objects.get(email=e) for e in emails]


def _last_token() -> str:
    match = LINK_RE.search(mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return match.group(1)


@pytest.fixture
def team(alpha):  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        yield dict(zip(("alice", "amos", "anne", "ari", "carol"),
                       _people("alice@alpha.test", "amos@alpha.test", "anne@alpha.test", "ari@alpha.test",
                               "carol@alpha.test"), strict=True))


# --- invitations -------------------------------------------------------------------------------
def test_an_invitation_emails_a_single_use_link_that_activates_the_person(team, alpha) -> None:  # type: ignore[no-untyped-def]
    mail.outbox.clear()
    invite, sent = staff_invite(actor=team["alice"], email=" Wanjiru@Example.com ", role=Role.METER_READER)
    assert sent and invite.email == "wanjiru@example.com"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["wanjiru@example.com"]
    assert "Alpha Water" in mail.outbox[0].subject
    token = _last_token()
    assert LINK_RE.search(mail.outbox[0].body).group(0).startswith(f"https://{host_of('alpha')}/")
    # Only the hash is kept; the message log keeps the email without the link.
    assert token not in str(StaffInvite.objects.values_list().get(pk=invite.pk))
    from notifications.models import Message
    assert token not in Message.objects.filter(event="staff_invite").get().text
    user = invite.user
    assert not user.is_active and not user.has_usable_password() and user.role == Role.METER_READER
    assert invite.expires_at - invite.sent_at == timedelta(days=7)

    accepted = staff_invite_accept(raw_token=token, full_name="Wanjiru Otieno", password=NEW_PASSWORD)
    assert accepted.pk == user.pk and accepted.is_active and accepted.check_password(NEW_PASSWORD)
    assert accepted.full_name == "Wanjiru Otieno"
    with pytest.raises(InviteUnusable) as used:
        staff_invite_accept(raw_token=token, full_name="Someone Else", password=NEW_PASSWORD)
    assert used.value.reason == "used"
    actions = list(AuditEvent.objects.filter(target_type="user", target_id=user.pk).values_list("action", flat=True))
    assert {"staff.invited", "staff.invite_accepted"} <= set(actions)
    for event in AuditEvent.objects.filter(action__startswith="staff."):
        assert "wanjiru" not in (event.object_repr + str(event.extra_data)).lower()


def test_an_invitation_expires_after_seven_days(team) -> None:  # type: ignore[no-untyped-def]
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        staff_invite(actor=team["alice"], email="late@example.com", role=Role.ACCOUNTANT)
        token = _last_token()
    with time_machine.travel(start + timedelta(days=6, hours=23), tick=False):
        assert invite_for_token(token).email == "late@example.com"
    with time_machine.travel(start + timedelta(days=7, seconds=1), tick=False):
        with pytest.raises(InviteUnusable) as expired:
            staff_invite_accept(raw_token=token, full_name="Late Person", password=NEW_PASSWORD)
        assert expired.value.reason == "expired"
    assert not User.objects.get(email="late@example.com").is_active


def test_resending_kills_the_old_link_and_gives_seven_new_days(team) -> None:  # type: ignore[no-untyped-def]
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        invite, _ = staff_invite(actor=team["amos"], email="resend@example.com", role=Role.METER_READER)
        old = _last_token()
    with time_machine.travel(start + timedelta(days=6), tick=False):
        invite, sent = staff_invite_resend(actor=team["amos"], invite=invite)
        new = _last_token()
    assert sent and new != old and invite.expires_at == start + timedelta(days=13)
    with time_machine.travel(start + timedelta(days=12), tick=False):
        with pytest.raises(InviteUnusable) as dead:
            invite_for_token(old)
        assert dead.value.reason == "unknown"
        assert staff_invite_accept(raw_token=new, full_name="Re Sent", password=NEW_PASSWORD).is_active


def test_revoking_kills_the_link_and_frees_the_email(team) -> None:  # type: ignore[no-untyped-def]
    invite, _ = staff_invite(actor=team["alice"], email="gone@example.com", role=Role.METER_READER)
    token = _last_token()
    staff_invite_revoke(actor=team["alice"], invite=invite)
    with pytest.raises(InviteUnusable) as revoked:
        invite_for_token(token)
    assert revoked.value.reason == "revoked"
    assert not User.objects.filter(email="gone@example.com").exists()
    assert not StaffInvite.objects.filter(email="gone@example.com").exists()  # the address is not kept
    again, _ = staff_invite(actor=team["alice"], email="gone@example.com", role=Role.ACCOUNTANT)
    assert again.role == Role.ACCOUNTANT


def test_an_email_already_here_is_refused_clearly(team) -> None:  # type: ignore[no-untyped-def]
    for email in ("amos@alpha.test", "CAROL@alpha.test"):
        with pytest.raises(ValidationError) as taken:
            staff_invite(actor=team["alice"], email=email, role=Role.ACCOUNTANT)
        assert taken.value.message_dict == {"email": ["Someone with this email already has an account here."]}
    staff_invite(actor=team["alice"], email="twice@example.com", role=Role.ACCOUNTANT)
    with pytest.raises(ValidationError) as twice:
        staff_invite(actor=team["alice"], email="twice@example.com", role=Role.ACCOUNTANT)
    assert "resend" in twice.value.message_dict["email"][0]
    staff_deactivate(actor=team["alice"], user=team["ari"])
    with pytest.raises(ValidationError) as gone:
        staff_invite(actor=team["alice"], email="ari@alpha.test", role=Role.METER_READER)
    assert "reactivate" in gone.value.message_dict["email"][0]


def test_a_manager_cannot_make_or_touch_an_owner(team) -> None:  # type: ignore[no-untyped-def]
    amos, alice, anne = team["amos"], team["alice"], team["anne"]
    with pytest.raises(ValidationError) as invite_owner:
        staff_invite(actor=amos, email="boss@example.com", role=Role.OWNER)
    assert invite_owner.value.message_dict == {"role": ["Only an owner can make someone an owner."]}
    with pytest.raises(ValidationError):
        staff_change_role(actor=amos, user=anne, role=Role.OWNER)
    with pytest.raises(PermissionDenied):
        staff_change_role(actor=amos, user=alice, role=Role.MANAGER)
    with pytest.raises(PermissionDenied):
        staff_deactivate(actor=amos, user=alice)
    with pytest.raises(PermissionDenied):
        staff_hand_over(actor=amos, user=anne)
    # Everyone else: yes.
    staff_change_role(actor=amos, user=anne, role=Role.MANAGER)
    staff_deactivate(actor=amos, user=team["ari"])
    staff_reactivate(actor=amos, user=team["ari"])
    alice.refresh_from_db()
    assert alice.role == Role.OWNER and alice.is_active


def test_accountants_and_meter_readers_cannot_manage_staff(team) -> None:  # type: ignore[no-untyped-def]
    for who in ("anne", "ari"):
        with pytest.raises(PermissionDenied):
            staff_invite(actor=team[who], email="x@example.com", role=Role.METER_READER)
        with pytest.raises(PermissionDenied):
            staff_deactivate(actor=team[who], user=team["amos"])


def test_the_last_active_owner_stays_and_nobody_deactivates_themselves(team) -> None:  # type: ignore[no-untyped-def]
    alice, amos = team["alice"], team["amos"]
    with pytest.raises(ValidationError) as demote:
        staff_change_role(actor=alice, user=alice, role=Role.MANAGER)
    assert demote.value.message_dict["role"][0].startswith("This is the last active owner")
    with pytest.raises(ValidationError) as self_off:
        staff_deactivate(actor=alice, user=alice)
    assert self_off.value.message_dict == {"is_active": ["You cannot deactivate yourself."]}
    with pytest.raises(ValidationError) as self_off_manager:
        staff_deactivate(actor=amos, user=amos)
    assert "yourself" in self_off_manager.value.message_dict["is_active"][0]
    # A second owner, deactivated, does not count as an active one.
    staff_change_role(actor=alice, user=amos, role=Role.OWNER)
    staff_deactivate(actor=alice, user=amos)
    with pytest.raises(ValidationError):
        staff_change_role(actor=alice, user=alice, role=Role.MANAGER)
    staff_reactivate(actor=alice, user=amos)
    # With two active owners, one may go.
    staff_deactivate(actor=amos, user=alice)
    alice.refresh_from_db()
    assert not alice.is_active


def test_handing_over_ownership_and_stepping_down(team) -> None:  # type: ignore[no-untyped-def]
    alice, anne = team["alice"], team["anne"]
    staff_hand_over(actor=alice, user=anne, step_down=True)
    alice.refresh_from_db()
    anne.refresh_from_db()
    assert anne.role == Role.OWNER and alice.role == Role.MANAGER
    assert User.objects.filter(role=Role.OWNER, is_active=True).count() == 1
    actions = set(AuditEvent.objects.filter(action__startswith="staff.").values_list("action", flat=True))
    assert {"staff.ownership_handed_over", "staff.role_changed"} <= actions
    with pytest.raises(ValidationError):
        staff_hand_over(actor=anne, user=anne)
    with pytest.raises(ValidationError):  # a client is not staff
        staff_hand_over(actor=anne, user=team["carol"])


# --- deactivated people --------------------------------------------------------------------------
def test_a_deactivated_user_cannot_log_in_and_their_session_ends(alpha, alpha_client: Client) -> None:  # type: ignore[no-untyped-def]
    login(alpha_client, "ari@alpha.test")
    assert alpha_client.get("/dashboard/").status_code == 200
    with tenant_context(alpha):
        alice, ari = _people("alice@alpha.test", "ari@alpha.test")
        staff_deactivate(actor=alice, user=ari)
    assert alpha_client.get("/dashboard/").status_code == 302  # the session is gone
    again = Client(HTTP_HOST=host_of("alpha"))
    response = login(again, "ari@alpha.test")
    assert response.status_code == 200 and "_auth_user_id" not in again.session
    with tenant_context(alpha):
        staff_reactivate(actor=alice, user=User.objects.get(email="ari@alpha.test"))
    assert login(again, "ari@alpha.test").status_code == 302


# --- the API ---------------------------------------------------------------------------------------
def _key(alpha, role: str) -> str:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        return api_key_create(name=f"{role} key", role=role)[1]


def test_the_api_lists_staff_and_invitations_never_clients(alpha, alpha_api, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    owner = api_client("alpha", _key(alpha, Role.OWNER))
    for i in range(3):
        assert owner.post("/api/v1/staff/", {"email": f"r{i}@example.com", "role": "meter_reader"},
                          format="json").status_code == 201
    with django_assert_num_queries(6):  # the key and its use, count, page (one query: no N+1)
        body = owner.get("/api/v1/staff/").json()
    assert set(body) == {"count", "next", "previous", "results"}
    emails = [r["email"] for r in body["results"]]
    assert "carol@alpha.test" not in emails and "alice@alpha.test" in emails and body["count"] == 7
    invited = next(r for r in body["results"] if r["email"] == "r0@example.com")
    assert invited["status"] == "invited" and invited["is_active"] is False and invited["role"] == "meter_reader"
    assert invited["invite_expires_at"]
    alice = next(r for r in body["results"] if r["email"] == "alice@alpha.test")
    assert {k: alice[k] for k in ("full_name", "role", "is_active", "status")} == {
        "full_name": "Alice Achieng", "role": "owner", "is_active": True, "status": "active"}


def test_api_post_invites_and_follows_the_role_rules(alpha) -> None:  # type: ignore[no-untyped-def]
    mail.outbox.clear()
    manager = api_client("alpha", API_KEYS["alpha"])  # the conftest key acts as a manager
    made = manager.post("/api/v1/staff/", {"email": "new@example.com", "role": "accountant"}, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["status"] == "invited" and made.json()["email"] == "new@example.com"
    assert len(mail.outbox) == 1 and "/accounts/invite/" in mail.outbox[0].body
    boss = manager.post("/api/v1/staff/", {"email": "boss@example.com", "role": "owner"}, format="json")
    assert boss.status_code == 400 and boss.json() == {"role": ["Only an owner can make someone an owner."]}
    taken = manager.post("/api/v1/staff/", {"email": "anne@alpha.test", "role": "meter_reader"}, format="json")
    assert taken.status_code == 400 and "email" in taken.json()
    bad = manager.post("/api/v1/staff/", {"email": "nope", "role": "client", "salary": 1}, format="json")
    assert bad.status_code == 400 and set(bad.json()) == {"email", "role", "salary"}
    owner = api_client("alpha", _key(alpha, Role.OWNER))
    assert owner.post("/api/v1/staff/", {"email": "co@example.com", "role": "owner"}, format="json").status_code == 201


def test_api_patch_follows_the_role_rules(alpha, team) -> None:  # type: ignore[no-untyped-def]
    manager = api_client("alpha", API_KEYS["alpha"])
    alice, anne, ari = team["alice"], team["anne"], team["ari"]
    promote = manager.patch(f"/api/v1/staff/{anne.pk}/", {"role": "owner"}, format="json")
    assert promote.status_code == 400 and promote.json() == {"role": ["Only an owner can make someone an owner."]}
    touch = manager.patch(f"/api/v1/staff/{alice.pk}/", {"role": "manager"}, format="json")
    assert touch.status_code == 403 and "owner" in touch.json()["detail"]
    off = manager.patch(f"/api/v1/staff/{ari.pk}/", {"is_active": False}, format="json")
    assert off.status_code == 200 and off.json()["is_active"] is False and off.json()["status"] == "deactivated"
    on = manager.patch(f"/api/v1/staff/{ari.pk}/", {"is_active": True, "role": "accountant"}, format="json")
    assert on.json()["is_active"] is True and on.json()["role"] == "accountant"
    fixed = manager.patch(f"/api/v1/staff/{ari.pk}/", {"email": "other@example.com"}, format="json")
    assert fixed.status_code == 400 and fixed.json() == {"email": ["Cannot be changed here."]}
    same = manager.patch(f"/api/v1/staff/{ari.pk}/", {**on.json(), "role": "meter_reader"}, format="json")
    assert same.status_code == 200 and same.json()["role"] == "meter_reader"

    owner = api_client("alpha", _key(alpha, Role.OWNER))
    last = owner.patch(f"/api/v1/staff/{alice.pk}/", {"role": "manager"}, format="json")
    assert last.status_code == 400 and last.json()["role"][0].startswith("This is the last active owner")
    last_off = owner.patch(f"/api/v1/staff/{alice.pk}/", {"is_active": False}, format="json")
    assert last_off.status_code == 400 and "is_active" in last_off.json()
    alice.refresh_from_db()
    assert alice.role == Role.OWNER and alice.is_active


def test_api_roles_sessions_and_clients(alpha, team) -> None:  # type: ignore[no-untyped-def]
    for role in (Role.ACCOUNTANT, Role.METER_READER):
        key = api_client("alpha", _key(alpha, role))
        assert key.get("/api/v1/staff/").status_code == 403
        assert key.post("/api/v1/staff/", {"email": "a@example.com", "role": "meter_reader"},
                        format="json").status_code == 403
        assert key.patch(f"/api/v1/staff/{team['ari'].pk}/", {"is_active": False}, format="json").status_code == 403
    assert api_client("alpha").get("/api/v1/staff/").status_code == 401
    session = Client(HTTP_HOST=host_of("alpha"))
    login(session, "alice@alpha.test")
    assert session.get("/api/v1/staff/").status_code == 200
    self_off = session.patch(f"/api/v1/staff/{team['alice'].pk}/", {"is_active": False},
                             content_type="application/json")
    assert self_off.status_code == 400 and self_off.json() == {"is_active": ["You cannot deactivate yourself."]}
    # A client is not staff: not listed, not patchable (404), and cannot use the API.
    assert session.patch(f"/api/v1/staff/{team['carol'].pk}/", {"role": "owner"},
                         content_type="application/json").status_code == 404
    reader = Client(HTTP_HOST=host_of("alpha"))
    login(reader, "ari@alpha.test")
    assert reader.get("/api/v1/staff/").status_code == 403


def test_api_isolation_between_providers(alpha, beta, beta_api, team) -> None:  # type: ignore[no-untyped-def]
    listed = beta_api.get("/api/v1/staff/").json()
    assert [r["email"] for r in listed["results"]] == ["bob@beta.test"]
    for user in (team["ari"], team["anne"]):
        assert beta_api.patch(f"/api/v1/staff/{user.pk}/", {"is_active": False}, format="json").status_code == 404
    with tenant_context(alpha):
        assert User.objects.get(email="ari@alpha.test").is_active
    assert beta_api.patch("/api/v1/staff/999999/", {"role": "manager"}, format="json").status_code == 404


# --- the pages -------------------------------------------------------------------------------------
def test_the_team_page_for_each_role(alpha, alpha_client: Client, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    login(alpha_client, "amos@alpha.test")
    page = alpha_client.get("/dashboard/settings/team/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Alice Achieng" in html and "carol@alpha.test" not in html
    role_options = re.search(r'<select name="role"[^>]*id="id_role"[^>]*>(.*?)</select>', html, re.S)
    assert role_options and 'value="owner"' not in role_options.group(1)  # a manager cannot give it
    assert 'value="meter_reader"' in role_options.group(1)
    for email in ("anne@alpha.test", "ari@alpha.test"):
        other = Client(HTTP_HOST=host_of("alpha"))
        login(other, email)
        assert other.get("/dashboard/settings/team/").status_code == 403
        assert "/dashboard/settings/team/" not in other.get("/dashboard/settings/").content.decode()
    assert "/dashboard/settings/team/" in alpha_client.get("/dashboard/settings/").content.decode()
    owner = Client(HTTP_HOST=host_of("alpha"))
    login(owner, "alice@alpha.test")
    assert 'value="owner"' in owner.get("/dashboard/settings/team/").content.decode()
    # The list grows; the page's queries do not.
    with tenant_context(alpha):
        alice = User.objects.get(email="alice@alpha.test")
        for i in range(5):
            staff_invite(actor=alice, email=f"grow{i}@example.com", role=Role.METER_READER)
    with django_assert_num_queries(6):
        assert owner.get("/dashboard/settings/team/").status_code == 200


def test_inviting_from_the_team_page_and_accepting(alpha, alpha_client: Client) -> None:  # type: ignore[no-untyped-def]
    mail.outbox.clear()
    login(alpha_client, "amos@alpha.test")
    refused = alpha_client.post("/dashboard/settings/team/", {"email": "x@example.com", "role": "owner"})
    assert refused.status_code == 400 and not mail.outbox
    taken = alpha_client.post("/dashboard/settings/team/", {"email": "anne@alpha.test", "role": "accountant"})
    assert taken.status_code == 400 and "already has an account here" in taken.content.decode()
    sent = alpha_client.post("/dashboard/settings/team/", {"email": "mwangi@example.com", "role": "meter_reader"},
                             follow=True)
    assert "Invitation sent to mwangi@example.com" in sent.content.decode()
    token = _last_token()

    fresh = Client(HTTP_HOST=host_of("alpha"))
    form = fresh.get(f"/accounts/invite/{token}/")
    assert form.status_code == 200 and "meter reader" in form.content.decode()
    short = fresh.post(f"/accounts/invite/{token}/", {"full_name": "Mwangi K", "password1": "short",
                                                       "password2": "short"})
    assert short.status_code == 200 and "too short" in short.content.decode()
    done = fresh.post(f"/accounts/invite/{token}/", {"full_name": "Mwangi Kariuki", "password1": NEW_PASSWORD,
                                                      "password2": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/dashboard/"
    assert fresh.get("/dashboard/").status_code == 200
    used = Client(HTTP_HOST=host_of("alpha")).get(f"/accounts/invite/{token}/")
    assert used.status_code == 410 and "already used" in used.content.decode()
    assert Client(HTTP_HOST=host_of("alpha")).get("/accounts/invite/not-a-token/").status_code == 404
    # A link is for its own provider only.
    assert Client(HTTP_HOST=host_of("beta")).get(f"/accounts/invite/{token}/").status_code == 404


def test_expired_and_revoked_links_say_so(alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        alice = User.objects.get(email="alice@alpha.test")
        staff_invite(actor=alice, email="old@example.com", role=Role.METER_READER)
        old = _last_token()
        StaffInvite.objects.filter(email="old@example.com").update(expires_at=timezone.now() - timedelta(minutes=1))
        invite, _ = staff_invite(actor=alice, email="revoked@example.com", role=Role.METER_READER)
        revoked = _last_token()
        staff_invite_revoke(actor=alice, invite=invite)
    browser = Client(HTTP_HOST=host_of("alpha"))
    expired_page = browser.get(f"/accounts/invite/{old}/")
    assert expired_page.status_code == 410 and "has expired" in expired_page.content.decode()
    revoked_page = browser.get(f"/accounts/invite/{revoked}/")
    assert revoked_page.status_code == 410 and "withdrawn" in revoked_page.content.decode()


def test_team_actions_from_the_page(alpha, alpha_client: Client) -> None:  # type: ignore[no-untyped-def]
    login(alpha_client, "alice@alpha.test")
    with tenant_context(alpha):
        anne, ari, alice = _people("anne@alpha.test", "ari@alpha.test", "alice@alpha.test")
        invite, _ = staff_invite(actor=alice, email="page@example.com", role=Role.METER_READER)
        old = _last_token()
    r = alpha_client.post(f"/dashboard/settings/team/{ari.pk}/role/", {"role": "accountant"}, follow=True)
    assert "is now accountant" in r.content.decode()
    r = alpha_client.post(f"/dashboard/settings/team/{ari.pk}/deactivate/", follow=True)
    assert "can no longer log in" in r.content.decode()
    r = alpha_client.post(f"/dashboard/settings/team/{alice.pk}/deactivate/", follow=True)
    assert "You cannot deactivate yourself." in r.content.decode()
    r = alpha_client.post(f"/dashboard/settings/team/{ari.pk}/reactivate/", follow=True)
    assert "can log in again" in r.content.decode()
    alpha_client.post(f"/dashboard/settings/team/invites/{invite.pk}/resend/")
    assert _last_token() != old
    r = alpha_client.post(f"/dashboard/settings/team/invites/{invite.pk}/revoke/", follow=True)
    assert "was withdrawn" in r.content.decode()
    r = alpha_client.post(f"/dashboard/settings/team/{anne.pk}/hand-over/", {"step_down": "1"}, follow=True)
    assert "is now an owner" in r.content.decode()
    with tenant_context(alpha):
        assert User.objects.get(pk=anne.pk).role == Role.OWNER
        assert User.objects.get(pk=alice.pk).role == Role.MANAGER
    # Now a manager, Alice can no longer touch the owner she made.
    r = alpha_client.post(f"/dashboard/settings/team/{anne.pk}/deactivate/", follow=True)
    assert "Only an owner can change or deactivate an owner." in r.content.decode()
    # Another provider's ids are 404 here.
    beta_owner = Client(HTTP_HOST=host_of("beta"))
    login(beta_owner, "bob@beta.test")
    assert beta_owner.post(f"/dashboard/settings/team/{ari.pk}/deactivate/").status_code == 404
    assert beta_owner.post(f"/dashboard/settings/team/invites/{invite.pk}/resend/").status_code == 404


def test_the_invite_page_does_not_need_a_login_and_logs_in_as_the_invitee(alpha, alpha_client: Client) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        staff_invite(actor=User.objects.get(email="alice@alpha.test"), email="switch@example.com",
                     role=Role.ACCOUNTANT)
    token = _last_token()
    login(alpha_client, "ari@alpha.test")  # someone else is logged in on this browser
    alpha_client.post(f"/accounts/invite/{token}/", {"full_name": "Switch Person", "password1": NEW_PASSWORD,
                                                     "password2": NEW_PASSWORD})
    assert alpha_client.get("/api/v1/me/").json()["name"] == "switch@example.com"
    assert PASSWORD  # the personas' password is untouched


def test_an_invitation_whose_email_fails_is_kept_and_says_so(alpha, alpha_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    from devkit.testing import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"  # nothing listens there
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    login(alpha_client, "alice@alpha.test")
    page = alpha_client.post("/dashboard/settings/team/", {"email": "nomail@example.com", "role": "accountant"},
                             follow=True)
    assert "could not be sent" in page.content.decode() and "nomail@example.com" in page.content.decode()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox.clear()
    with tenant_context(alpha):
        invite = StaffInvite.objects.get(email="nomail@example.com")
    resent = alpha_client.post(f"/dashboard/settings/team/invites/{invite.pk}/resend/", follow=True)
    assert "A new link went to nomail@example.com" in resent.content.decode() and len(mail.outbox) == 1
