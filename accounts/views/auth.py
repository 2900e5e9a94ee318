from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse, reverse_lazy

from accounts import two_factor
from accounts.forms import EmailAuthenticationForm
from accounts.permissions import has_capability, public
from accounts.services import handoff_token_user


@public
class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        """The password is right. A user with an authenticator app is not logged in yet: the
        session only remembers who is halfway, and the code step logs them in."""
        user = form.get_user()
        if user.is_provider_staff and two_factor.is_enrolled(user):
            backend = user.backend  # type: ignore[attr-defined]  # set on the user by authenticate()
            two_factor.pending_start(self.request, user, backend=backend, next_url=self.get_success_url())
            return redirect("two_factor_login")
        return super().form_valid(form)


@public
class LogoutView(auth_views.LogoutView):
    pass


class ProviderPasswordResetForm(PasswordResetForm):
    def save(self, domain_override: str | None = None, **kwargs: Any) -> None:  # type: ignore[override]
        # The link names the provider's own domain, never whatever Host the request carried.
        tenant: Any = getattr(kwargs.get("request"), "tenant", None)
        if tenant is not None and getattr(tenant, "domain", None):
            port = settings.SITE_PORT
            domain_override = tenant.domain + (f":{port}" if port and port not in ("80", "443") else "")
        super().save(domain_override=domain_override, **kwargs)

    def send_mail(self, subject_template_name: str, email_template_name: str, context: dict, from_email: str | None,
                  to_email: str, html_email_template_name: str | None = None) -> None:
        """Through notifications, like every message (its log keeps the email without the link)."""
        from django.urls import reverse

        from accounts.languages import user_language
        from majismart.tenancy import connection
        from notifications.services import Outgoing, send_now

        if connection.schema_name == "public":  # platform admins: no provider, no message log
            return super().send_mail(subject_template_name, email_template_name, context, from_email, to_email,
                                     html_email_template_name)
        link = context["protocol"] + "://" + context["domain"] + reverse(
            "password_reset_confirm", kwargs={"uidb64": context["uid"], "token": context["token"]})
        user = context["user"]
        values = {"provider": context.get("provider_name", ""), "name": user.get_full_name(), "account": ""}
        send_now(event="password_reset", channel="email",
                 outgoing=Outgoing(f"user:{user.pk}", to_email, values, language=user_language(user)),
                 secret_values={"link": link})


@public
class PasswordResetView(auth_views.PasswordResetView):
    form_class = ProviderPasswordResetForm
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def get_extra_email_context(self) -> dict[str, object]:
        tenant = getattr(self.request, "tenant", None)
        return {"provider_name": getattr(tenant, "name", "MajiSmart")}

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        self.extra_email_context = self.get_extra_email_context()
        return super().form_valid(form)


@public
class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


@public
class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")


@public
class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


@public
def handoff(request: HttpRequest, token: str) -> HttpResponse:
    """Lands a freshly signed-up owner, logged in, on their provider's own dashboard."""
    user = handoff_token_user(token)
    if user is None:
        messages.error(request, "That sign-in link has expired. Please log in with your email and password.")
        return redirect("login")
    if user.is_provider_staff and two_factor.is_enrolled(user):
        two_factor.pending_start(request, user, backend="django.contrib.auth.backends.ModelBackend",
                                 next_url=reverse("dashboard"))
        return redirect("two_factor_login")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, "Welcome to MajiSmart! Your provider account is ready.")
    return redirect("dashboard")


@public  # a signpost: the login page, the portal or the dashboard
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("login")
    if has_capability(request.user, "portal.use"):
        return redirect("portal")
    return redirect("dashboard")
