from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.models import APIKey
from accounts.services import api_key_used

MSG_BAD_KEY = "Invalid or revoked API key."


class APIKeyPrincipal:
    """What `request.user` is when a request authenticates with an API key."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    pk = None

    def __init__(self, api_key: APIKey) -> None:
        self.api_key = api_key
        self.role = api_key.role

    def __str__(self) -> str:
        return f"API key {self.api_key.name} (mjs_{self.api_key.prefix})"


class APIKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>`; keys live in (and only work on) their provider's schema."""

    def authenticate(self, request: Any) -> tuple[APIKeyPrincipal, APIKey] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <api key>'.")
        try:
            raw = header[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(MSG_BAD_KEY) from exc
        api_key = APIKey.objects.verify(raw)
        if api_key is None:
            raise exceptions.AuthenticationFailed(MSG_BAD_KEY)
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > timedelta(minutes=1):
            # At most one write a minute per key, however busy the integration.
            APIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key_used(api_key=api_key, method=request.method, path=request.path)
        return APIKeyPrincipal(api_key), api_key

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.APIKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A provider API key."}
