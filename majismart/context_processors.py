from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    tenant = getattr(request, "tenant", None)
    is_provider = tenant is not None and tenant.schema_name != "public"
    return {
        "BASE_DOMAIN": settings.BASE_DOMAIN,
        "provider": tenant if is_provider else None,
        # The language switch's choices, each named in its own language.
        "LANGUAGES_OFFERED": settings.LANGUAGES,
        "platform_url": f"{settings.SITE_SCHEME}://{settings.BASE_DOMAIN}{_port(request)}",
    }


def _port(request: HttpRequest) -> str:
    port = settings.SITE_PORT or request.get_port()
    return "" if str(port) in ("80", "443", "") else f":{port}"
