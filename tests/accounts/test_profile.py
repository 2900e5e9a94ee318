"""Dashboard → My profile: every staff user changes their name and password and signs out of
their other sessions (two real logged-in clients; this project's database sessions)."""

from __future__ import annotations

from django.conf import settings
from django.test import Client
from django_tenants.utils import tenant_context

from accounts.models import AuditEvent, User
from tests.conftest import PASSWORD, host_of, login

NEW_PASSWORD = "lake-naivasha-2026!"


def _two_sessions(email: str) -> tuple[Client, Client]:
    here, there = Client(HTTP_HOST=host_of("alpha")), Client(HTTP_HOST=host_of("alpha"))
    for c in (here, there):
        assert login(c, email, PASSWORD).status_code == 302
        assert c.get("/dashboard/profile/").status_code == 200
    return here, there


def test_every_staff_role_has_a_profile_and_the_topbar_links_it(alpha) -> None:  # type: ignore[no-untyped-def]
    for email in ("alice@alpha.test", "amos@alpha.test", "anne@alpha.test", "ari@alpha.test"):
        c = Client(HTTP_HOST=host_of("alpha"))
        login(c, email)
        page = c.get("/dashboard/profile/")
        assert page.status_code == 200, email
        html = page.content.decode()
        assert email in html and ">Security<" in html and "Change password" in html
        assert 'href="/dashboard/profile/"' in c.get("/dashboard/").content.decode()
    carol = Client(HTTP_HOST=host_of("alpha"))
    login(carol, "carol@alpha.test")
    assert carol.get("/dashboard/profile/").status_code == 403  # clients have the portal
    assert Client(HTTP_HOST=host_of("alpha")).get("/dashboard/profile/").status_code == 302


def test_changing_the_name(alpha, alpha_client: Client) -> None:  # type: ignore[no-untyped-def]
    login(alpha_client, "ari@alpha.test")
    empty = alpha_client.post("/dashboard/profile/", {"full_name": "  "})
    assert empty.status_code == 400
    saved = alpha_client.post("/dashboard/profile/", {"full_name": "Ari K. Kamau"}, follow=True)
    assert "Your name is saved." in saved.content.decode()
    assert "Ari K. Kamau · Meter reader" in saved.content.decode()
    with tenant_context(alpha):
        assert User.objects.get(email="ari@alpha.test").full_name == "Ari K. Kamau"
        event = AuditEvent.objects.filter(action="profile.updated").latest("id")
        assert "Ari" not in event.object_repr + str(event.extra_data)


def test_changing_the_password_keeps_this_session_and_ends_the_others(alpha) -> None:  # type: ignore[no-untyped-def]
    here, there = _two_sessions("anne@alpha.test")
    wrong = here.post("/dashboard/profile/password/", {"old_password": "not-it", "new_password1": NEW_PASSWORD,
                                                       "new_password2": NEW_PASSWORD})
    assert wrong.status_code == 400 and "incorrectly" in wrong.content.decode()
    weak = here.post("/dashboard/profile/password/", {"old_password": PASSWORD, "new_password1": "12345678",
                                                      "new_password2": "12345678"})
    assert weak.status_code == 400 and "too short" in weak.content.decode()
    differ = here.post("/dashboard/profile/password/", {"old_password": PASSWORD, "new_password1": NEW_PASSWORD,
                                                        "new_password2": NEW_PASSWORD + "x"})
    assert differ.status_code == 400
    done = here.post("/dashboard/profile/password/", {"old_password": PASSWORD, "new_password1": NEW_PASSWORD,
                                                      "new_password2": NEW_PASSWORD})
    assert done.status_code == 302
    assert here.get("/dashboard/profile/").status_code == 200
    assert there.get("/dashboard/profile/").status_code == 302  # signed out
    fresh = Client(HTTP_HOST=host_of("alpha"))
    assert login(fresh, "anne@alpha.test", NEW_PASSWORD).status_code == 302
    with tenant_context(alpha):
        assert AuditEvent.objects.filter(action="auth.password_changed", actor="anne@alpha.test").exists()


def test_signing_out_of_the_other_sessions(alpha) -> None:  # type: ignore[no-untyped-def]
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    here, there = _two_sessions("amos@alpha.test")
    other_user = Client(HTTP_HOST=host_of("alpha"))
    login(other_user, "anne@alpha.test")
    done = here.post("/dashboard/profile/sessions/", follow=True)
    assert "You are signed out everywhere else" in done.content.decode()
    assert here.get("/dashboard/profile/").status_code == 200  # this one stays
    gone = there.get("/dashboard/profile/")
    assert gone.status_code == 302 and gone["Location"].startswith("/accounts/login/")
    assert other_user.get("/dashboard/profile/").status_code == 200  # nobody else is touched
    # Doing it again from a new login ends the first one too, and the password still works.
    newer = Client(HTTP_HOST=host_of("alpha"))
    login(newer, "amos@alpha.test")
    newer.post("/dashboard/profile/sessions/")
    assert here.get("/dashboard/profile/").status_code == 302
    assert newer.get("/dashboard/profile/").status_code == 200
    assert login(Client(HTTP_HOST=host_of("alpha")), "amos@alpha.test").status_code == 302
    with tenant_context(alpha):
        assert AuditEvent.objects.filter(action="auth.other_sessions_ended").count() == 2


def test_a_session_from_before_session_versions_still_works(alpha) -> None:  # type: ignore[no-untyped-def]
    # Version 0 keeps Django's own hash: deploying this logs nobody out.
    with tenant_context(alpha):
        user = User.objects.get(email="ari@alpha.test")
        from django.contrib.auth.base_user import AbstractBaseUser
        assert user.session_version == 0
        assert user.get_session_auth_hash() == AbstractBaseUser._get_session_auth_hash(user)
