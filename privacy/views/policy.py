"""Pages of the policy part of privacy: accepting a new privacy policy or terms, the policy texts
on a provider's own domain, the cookie choice, and a client's portal registration."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.permissions import public, signed_in
from accounts.ratelimit import limit_posts
from privacy import cookies
from privacy.policy import policy_accept, policy_pending, remember_accepted, safe_next
from privacy.registration import (
    MSG_HAS_LOGIN,
    FinishForm,
    RegistrationError,
    StartForm,
    client_ip_of,
    registration_code_status,
    registration_finish,
    registration_pending,
    registration_start,
)
from tenants.models import PolicyVersion
from tenants.views.public import policy_page

MSG_ACCEPTED = "Thank you: your acceptance is recorded."


# --- acceptance at login -----------------------------------------------------------------------
@signed_in
@require_http_methods(["GET", "POST"])
def policy_accept_view(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    pending = policy_pending(request.user)
    if not pending:
        remember_accepted(request)
        return redirect(next_url)
    if request.method == "POST":
        policy_accept(user=request.user, versions=pending, source="login", ip=client_ip_of(request))
        remember_accepted(request)
        messages.success(request, MSG_ACCEPTED)
        return redirect(next_url)
    return render(request, "privacy/policy/accept.html", {"pending": pending, "next": next_url})


def policy_document(request: HttpRequest, kind: str, version: str | None = None) -> HttpResponse:
    """The privacy policy or terms on a provider's domain (the same texts as the public site)."""
    return policy_page(request, kind, version, template="privacy/policy/document.html")


@public
def privacy_document(request: HttpRequest, version: str | None = None) -> HttpResponse:
    return policy_document(request, PolicyVersion.Kind.PRIVACY, version)


@public
def terms_document(request: HttpRequest, version: str | None = None) -> HttpResponse:
    return policy_document(request, PolicyVersion.Kind.TERMS, version)


# --- cookies -----------------------------------------------------------------------------------
@public
@require_http_methods(["GET", "POST"])
def cookie_settings(request: HttpRequest) -> HttpResponse:
    """The cookie choice: a plain form (the banner's buttons post here), answered with a redirect
    back, or JSON when the banner's script posts it."""
    if request.method == "POST":
        choice = request.POST.get("choice", "")
        if choice not in cookies.CHOICES:
            return render(request, "privacy/policy/cookies.html", {"error": True}, status=400)
        cookies.cookie_consent_record(request=request, choice=choice)
        if request.headers.get("X-Requested-With") == "fetch":
            response: HttpResponse = JsonResponse({"choice": choice})
        else:
            response = redirect(safe_next(request, request.POST.get("next"), "/cookies/"))
        cookies.cookie_choice_set(response, request, choice)
        return response
    return render(request, "privacy/policy/cookies.html", {"next": safe_next(request, request.GET.get("next"))})


# --- portal registration -----------------------------------------------------------------------
@public
@require_http_methods(["GET", "POST"])
@limit_posts("register", fields=("account_number",))
def register_start(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = StartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        channel, contact = form.cleaned_data["contact"]
        try:
            registration_start(session=request.session, account_number=form.cleaned_data["account_number"],
                               channel=channel, contact=contact, ip=client_ip_of(request))
        except RegistrationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return render(request, "privacy/policy/register_start.html", {"form": form}, status=exc.status)
        # The code page says what became of the code (registration_code_status), not a message
        # written here before the code was sent.
        return redirect("register_finish")
    return render(request, "privacy/policy/register_start.html", {"form": form},
                  status=400 if form.errors else 200)


@public
@require_http_methods(["GET", "POST"])
@limit_posts("register_code")
def register_finish(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    pending = registration_pending(request.session)
    if pending is None:
        messages.error(request, "Your registration has expired. Please start again.")
        return redirect("register")
    form = FinishForm(request.POST or None, initial={"email": pending["email"]} if pending.get("email") else {})
    has_login = False
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            made = registration_finish(session=request.session, code=data["code"], email=data["email"],
                                       password=data["password1"], ip=client_ip_of(request))
        except RegistrationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            has_login = exc.message == MSG_HAS_LOGIN
        else:
            login(request, made.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {made.user.get_short_name()}! Your online account is ready.")
            return redirect("portal")
    from tenants.selectors import current_policy_versions

    code_status, code_unsent = registration_code_status(pending)
    return render(request, "privacy/policy/register_finish.html", {
        "form": form, "has_login": has_login, "policies": current_policy_versions(),
        "code_status": code_status, "code_unsent": code_unsent,
    }, status=400 if form.errors else 200)
