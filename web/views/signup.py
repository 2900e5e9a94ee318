"""A new provider signs up on the platform's site: its schema, its owner, and the owner's
acceptance of the privacy policy and terms they were shown (the privacy app's record): a page
on top of tenants, accounts and privacy, hence here."""

from __future__ import annotations

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from django_tenants.utils import tenant_context

from accounts.ratelimit import limit_posts
from accounts.services import handoff_token_make
from majismart.urls import domain_url
from privacy.policy import policy_accept
from tenants.forms import SignupForm
from tenants.selectors import current_policy_versions
from tenants.services import provider_create

SIGNUPS_PER_HOUR_PER_IP = 10
MSG_TOO_MANY_SIGNUPS = "Too many sign-ups from your network in the last hour. Please try again later."


def _signup_key(request: HttpRequest) -> str:
    return f"signups:{request.META.get('REMOTE_ADDR', '')}"


def _signup_allowed(request: HttpRequest) -> bool:
    """At most a few providers an hour from one address: each one is a database schema."""
    return int(cache.get(_signup_key(request), 0)) < SIGNUPS_PER_HOUR_PER_IP


def _signup_counted(request: HttpRequest) -> None:
    key = _signup_key(request)
    cache.add(key, 0, timeout=3600)
    cache.incr(key)


@require_http_methods(["GET", "POST"])
@limit_posts("signup", fields=("owner_email",))
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and not _signup_allowed(request):
        form.is_valid()
        form.add_error(None, MSG_TOO_MANY_SIGNUPS)
        return render(request, "public/signup.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        # The versions the form linked to and the owner accepted (read fresh: what is in force now).
        accepted = {kind: v.version for kind, v in current_policy_versions(fresh=True).items()}
        try:
            created = provider_create(
                name=data["business_name"],
                slug=data["subdomain"],
                owner_email=data["owner_email"],
                owner_password=data["password1"],
                owner_name=data["owner_name"],
                owner_phone=data["owner_phone"],
                consent={
                    "adult_attested": True,
                    "terms_accepted": True,
                    "policy": accepted["privacy"],
                    "terms": accepted["terms"],
                    "at": timezone.now().isoformat(),
                    "ip": request.META.get("REMOTE_ADDR", ""),
                },
            )
        except ValidationError as exc:  # a race lost to a concurrent sign-up lands here
            form.add_error(None if hasattr(exc, "error_dict") else "subdomain", exc)
        else:
            _signup_counted(request)
            with tenant_context(created.provider):
                # The owner's acceptance of exactly the versions they were shown, in the new schema.
                policy_accept(user=created.owner, versions=accepted, source="signup",
                              ip=request.META.get("REMOTE_ADDR", ""))
                token = handoff_token_make(created.owner)
            return redirect(domain_url(created.provider.domain, f"/accounts/welcome/{token}/", request))
    return render(request, "public/signup.html", {"form": form}, status=400 if form.errors else 200)
