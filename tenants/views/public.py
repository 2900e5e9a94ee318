"""The platform's public site: landing, finding your provider, policy pages (sign-up: web.views.signup)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.ratelimit import limit_posts
from majismart.urls import domain_url
from tenants.forms import FindProviderForm
from tenants.models import Domain, PolicyVersion
from tenants.selectors import policy_version_get, provider_domain_name, published_policy_versions


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "public/landing.html")


@require_http_methods(["GET", "POST"])
@limit_posts("find_provider")
def find_provider(request: HttpRequest) -> HttpResponse:
    form = FindProviderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        domain = provider_domain_name(form.cleaned_data["subdomain"].strip().lower())
        if Domain.objects.filter(domain=domain, tenant__is_template=False).exists():
            return redirect(domain_url(domain, "/accounts/login/", request))
        form.add_error("subdomain", "We could not find a provider with that subdomain.")
    return render(request, "public/find_provider.html", {"form": form})


def policy_page(request: HttpRequest, kind: str, version: str | None = None,
                template: str = "public/policy.html") -> HttpResponse:
    """A published version of the privacy policy or terms (the one in force without `version`),
    with the list of every published version. Also served on providers' domains."""
    shown = policy_version_get(kind, version)
    if shown is None:
        raise Http404("No such version.")
    current = published_policy_versions(kind).only("pk").first()
    return render(request, template, {
        "policy": shown, "is_current": current is not None and current.pk == shown.pk,
        "versions": published_policy_versions(kind).only("kind", "version", "title", "published_at"),
        "kind_label": PolicyVersion.Kind(kind).label,
    })


def privacy(request: HttpRequest, version: str | None = None) -> HttpResponse:
    return policy_page(request, PolicyVersion.Kind.PRIVACY, version)


def terms(request: HttpRequest, version: str | None = None) -> HttpResponse:
    return policy_page(request, PolicyVersion.Kind.TERMS, version)
