"""The platform's public site: landing, sign-up, finding your provider, policy pages."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django_tenants.utils import tenant_context

from accounts.services import handoff_token_make
from majismart.urls import domain_url
from tenants.forms import FindProviderForm, SignupForm
from tenants.models import Domain
from tenants.selectors import provider_domain_name
from tenants.services import provider_create


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "public/landing.html")


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
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
            )
        except ValidationError as exc:  # a race lost to a concurrent sign-up lands here
            form.add_error("subdomain", exc)
        else:
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
