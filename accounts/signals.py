"""Logins, logouts, failed logins and lockouts, into the audit log of the schema they happened
in (each provider's users live in its own schema; platform admins in public)."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from accounts.models import AuditCategory
from accounts.services import audit


def _who(credentials: dict[str, Any] | None) -> str:
    # The login field is an email (login emails stay in clear); anything else typed is not kept.
    tried = str((credentials or {}).get("username") or (credentials or {}).get("email") or "").strip().lower()
    return tried[:254] if "@" in tried else "(not an email)"


@receiver(user_logged_in, dispatch_uid="audit_login")
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit(actor=user, action="auth.login", category=AuditCategory.AUTH, object_repr=f"user {user.pk}",
          target=("user", user.pk), role=getattr(user, "role", ""))


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:  # the session had already ended
        return
    audit(actor=user, action="auth.logout", category=AuditCategory.AUTH, object_repr=f"user {user.pk}",
          target=("user", user.pk))


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    audit(actor=_who(credentials), action="auth.login_failed", category=AuditCategory.AUTH,
          object_repr="failed login")


@receiver(user_locked_out, dispatch_uid="audit_locked_out")
def _locked_out(sender: Any, request: Any = None, username: str | None = None, ip_address: str | None = None,
                **kwargs: Any) -> None:
    audit(actor=_who({"username": username}), action="auth.locked_out", category=AuditCategory.AUTH,
          object_repr="locked out after repeated failures")
