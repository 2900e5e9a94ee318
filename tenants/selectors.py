from __future__ import annotations

import re

from django.conf import settings
from django.db import connection
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


# The only names logo_upload_to gives: anything else in the column (edited by hand, or forged
# to reach another schema's files) is not a logo.
_LOGO_NAME = re.compile(r"^branding/logo-[0-9a-f]{12}\.(png|jpg)$")
LOGO_TYPES = {"png": "image/png", "jpg": "image/jpeg"}


def logo_file(provider: Provider) -> tuple[str, str] | None:
    """The provider's stored logo as (storage name, content type), or None. Read in the
    provider's own schema: the tenant storage keeps each schema's files apart."""
    name = provider.logo.name or ""
    match = _LOGO_NAME.match(name)
    if match is None or connection.schema_name != provider.schema_name or not provider.logo.storage.exists(name):
        return None
    return name, LOGO_TYPES[match.group(1)]
