"""Dashboard → My profile (every staff user): name, password, signing out of other sessions."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.forms import ProfileNameForm
from accounts.languages import user_language
from accounts.permissions import require_capability
from accounts.services import audit, user_language_set
from accounts.staff import profile_update_name, sessions_end_others
from accounts.two_factor import is_enrolled


def _page(request: HttpRequest, *, name_form: ProfileNameForm | None = None,
          password_form: PasswordChangeForm | None = None, status: int = 200) -> HttpResponse:
    user = request.user
    return render(request, "accounts/profile.html", {
        "active": "profile",
        "name_form": name_form or ProfileNameForm(initial={"full_name": user.full_name}),  # type: ignore[union-attr]
        "password_form": password_form or _password_form(user),
        "two_factor_on": is_enrolled(user),  # type: ignore[arg-type]
        "language_choices": [("", _("The provider's default")), *settings.LANGUAGES],
    }, status=status)


def _password_form(user: object, data: object = None) -> PasswordChangeForm:
    form = PasswordChangeForm(user, data)
    form.fields["old_password"].widget.attrs.pop("autofocus", None)  # the page opens on the name
    return form


@require_capability("dashboard.view")
def profile(request: HttpRequest) -> HttpResponse:
    """GET: the page. POST: change the name."""
    if request.method != "POST":
        return _page(request)
    form = ProfileNameForm(request.POST)
    if form.is_valid():
        try:
            profile_update_name(user=request.user, full_name=form.cleaned_data["full_name"])  # type: ignore[arg-type]
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, "Your name is saved.")
            return redirect("profile")
    return _page(request, name_form=form, status=400)


@require_POST
@require_capability("dashboard.view")
def password_change(request: HttpRequest) -> HttpResponse:
    """Old password and the new one twice, through Django's validators; this session stays,
    every other session of the user ends (the password is part of their auth hash)."""
    form = _password_form(request.user, request.POST)
    if not form.is_valid():
        return _page(request, password_form=form, status=400)
    user = form.save()
    update_session_auth_hash(request, user)
    audit(actor=user, action="auth.password_changed", object_repr=f"user {user.pk}", target=("user", user.pk))
    messages.success(request, "Your password is changed. Your other sessions have been signed out.")
    return redirect("profile")


@require_POST
@require_capability("dashboard.view")
def sessions_end(request: HttpRequest) -> HttpResponse:
    user = sessions_end_others(user=request.user)  # type: ignore[arg-type]
    update_session_auth_hash(request, user)  # this session follows the new hash; the others do not
    messages.success(request, "You are signed out everywhere else. This session stays signed in.")
    return redirect("profile")


@require_POST
@require_capability("dashboard.view")
def language_save(request: HttpRequest) -> HttpResponse:
    """The dashboard's language for this staff member ("": the provider's default)."""
    language = request.POST.get("language", "")
    if language not in {code for code, _name in settings.LANGUAGES} | {""}:
        return _page(request, status=400)
    user_language_set(user=request.user, language=language)  # type: ignore[arg-type]
    response = redirect("profile")
    response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)  # the stored choice decides from now on
    with translation.override(user_language(request.user)):  # said in the language just chosen
        messages.success(request, _("Your language is saved."))
    return response
