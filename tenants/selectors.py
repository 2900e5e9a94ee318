from __future__ import annotations

import re

from django.conf import settings
from django.core.cache import caches
from django.db.models import QuerySet

from majismart.tenancy import connection
from majismart.urls import domain_url
from tenants.models import POLICY_VERSION, PUBLIC_SLUG, PolicyVersion, Provider


def providers() -> QuerySet[Provider]:
    """Real providers: not the public tenant, not the clone template."""
    return Provider.objects.exclude(schema_name=PUBLIC_SLUG).exclude(is_template=True)


def active_providers() -> QuerySet[Provider]:
    return providers().filter(status=Provider.Status.ACTIVE)


def provider_domain_name(slug: str) -> str:
    return f"{slug}.{settings.BASE_DOMAIN}"


def callback_urls(provider: Provider) -> dict[str, str]:
    """The callback URLs of a provider, the one list that Settings, M-Pesa settings,
    `provider_info` and the registration with Daraja show or send: without "mpesa" in them, as
    Safaricom refuses URLs that carry the word (§1.5 "URL restrictions"). The `/payments/mpesa/…`
    paths of shared/API.md answer the same, but cannot be registered."""
    domain, token = provider.domain, provider.callback_token
    return {
        "c2b_validation": domain_url(domain, f"/payments/c2b/validation/{token}/"),
        "c2b_confirmation": domain_url(domain, f"/payments/c2b/confirmation/{token}/"),
        "stk_callback": domain_url(domain, f"/payments/stk/callback/{token}/"),
        "paystack_webhook": domain_url(domain, "/payments/paystack/webhook/"),
        # Africa's Talking (USSD code and incoming SMS number), behind the same token.
        "ussd": domain_url(domain, f"/ussd/{token}/"),
        "sms_inbound": domain_url(domain, f"/sms/inbound/{token}/"),
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


# --- policy versions ----------------------------------------------------------------------------
# Cached in the platform cache (one key for every provider's domain, unlike the default cache's
# per-schema keys) so that publishing clears it once for all; decisions that ask a user to accept
# something read the table itself (fresh=True), so a stale entry only delays the question.
POLICY_CACHE_KEY = "policy:current"
POLICY_CACHE_SECONDS = 300


def _policy_fallback(kind: str) -> PolicyVersion:
    return PolicyVersion(kind=kind, version=POLICY_VERSION, title=PolicyVersion.Kind(kind).label,
                         asks_acceptance=False)


def current_policy_versions(*, fresh: bool = False) -> dict[str, PolicyVersion]:
    """The version in force of each kind (privacy, terms): the latest published, or, before any
    is published, an unsaved stand-in for POLICY_VERSION."""
    cache = caches["platform"]
    found = None if fresh else cache.get(POLICY_CACHE_KEY)
    if found is None:
        rows = (PolicyVersion.objects.filter(published_at__isnull=False).order_by("kind", "-published_at", "-id")
                .distinct("kind").defer("body"))
        found = {kind: _policy_fallback(kind) for kind in PolicyVersion.Kind.values}
        found.update({row.kind: row for row in rows})
        cache.set(POLICY_CACHE_KEY, found, POLICY_CACHE_SECONDS)
    return found


def current_policy_version(kind: str) -> PolicyVersion:
    return current_policy_versions()[kind]


def policy_cache_clear() -> None:
    caches["platform"].delete(POLICY_CACHE_KEY)


def published_policy_versions(kind: str) -> QuerySet[PolicyVersion]:
    return PolicyVersion.objects.filter(kind=kind, published_at__isnull=False).order_by("-published_at", "-id")


def policy_version_get(kind: str, version: str | None = None) -> PolicyVersion | None:
    """A published version of a kind (the current one when `version` is None), body included."""
    return published_policy_versions(kind).filter(**({"version": version} if version else {})).first()
