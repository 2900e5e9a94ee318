"""The platform's public site: landing, sign-up, finding your provider, policy pages."""

from __future__ import annotations

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from django_tenants.utils import tenant_context

from accounts.services import handoff_token_make
from majismart.urls import domain_url
from tenants.forms import FindProviderForm, SignupForm
from tenants.models import POLICY_VERSION, Domain
from tenants.selectors import provider_domain_name
from tenants.services import provider_create


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "public/landing.html")


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
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and not _signup_allowed(request):
        form.is_valid()
        form.add_error(None, MSG_TOO_MANY_SIGNUPS)
        return render(request, "public/signup.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
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
                    "policy": POLICY_VERSION,
                    "at": timezone.now().isoformat(),
                    "ip": request.META.get("REMOTE_ADDR", ""),
                },
            )
        except ValidationError as exc:  # a race lost to a concurrent sign-up lands here
            form.add_error(None if hasattr(exc, "error_dict") else "subdomain", exc)
        else:
            _signup_counted(request)
            with tenant_context(created.provider):
                token = handoff_token_make(created.owner)
            return redirect(domain_url(created.provider.domain, f"/accounts/welcome/{token}/", request))
    return render(request, "public/signup.html", {"form": form}, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def find_provider(request: HttpRequest) -> HttpResponse:
    form = FindProviderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        domain = provider_domain_name(form.cleaned_data["subdomain"].strip().lower())
        if Domain.objects.filter(domain=domain, tenant__is_template=False).exists():
            return redirect(domain_url(domain, "/accounts/login/", request))
        form.add_error("subdomain", "We could not find a provider with that subdomain.")
    return render(request, "public/find_provider.html", {"form": form})


def privacy(request: HttpRequest) -> HttpResponse:
    return render(request, "public/privacy.html")


def terms(request: HttpRequest) -> HttpResponse:
    return render(request, "public/terms.html")
