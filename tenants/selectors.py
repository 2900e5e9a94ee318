from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from majismart.urls import domain_url
from tenants.models import PUBLIC_SLUG, Provider


def providers() -> QuerySet[Provider]:
    """Real providers: not the public tenant, not the clone template."""
    return Provider.objects.exclude(schema_name=PUBLIC_SLUG).exclude(is_template=True)


def active_providers() -> QuerySet[Provider]:
    return providers().filter(status=Provider.Status.ACTIVE)


def provider_domain_name(slug: str) -> str:
    return f"{slug}.{settings.BASE_DOMAIN}"


def callback_urls(provider: Provider) -> dict[str, str]:
    domain = provider.domain
    token = provider.callback_token
    return {
        "c2b_validation": domain_url(domain, f"/payments/mpesa/c2b/validation/{token}/"),
        "c2b_confirmation": domain_url(domain, f"/payments/mpesa/c2b/confirmation/{token}/"),
        "stk_callback": domain_url(domain, f"/payments/mpesa/stk/callback/{token}/"),
    }


def provider_info(provider: Provider) -> dict[str, object]:
    return {
        "slug": provider.slug,
        "name": provider.name,
        "domain": provider.domain,
        "status": provider.status,
        "callback_token": provider.callback_token,
        "callback_urls": callback_urls(provider),
    }
