"""Which language a person reads: their own choice, else their provider's default.

A client's choice is on their Client record (set in the portal, by staff, on USSD), a staff
member's on their user (their profile page); the provider's default is a provider setting.
Before login, the language switch's cookie or the browser's Accept-Language decide (Django's
LocaleMiddleware), and the provider's default only when the browser names neither language.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

from accounts.models import Role
from majismart.tenancy import connection

SUPPORTED = {code for code, _name in settings.LANGUAGES}


def supported(code: str | None) -> str:
    """CODE if MajiSmart speaks it ("sw-KE" counts as "sw"), else ""."""
    base = (code or "").lower().split("-")[0]
    return base if base in SUPPORTED else ""


def provider_default() -> str:
    return supported(getattr(connection.tenant, "language", "")) or settings.LANGUAGE_CODE


def user_language(user: object) -> str:
    """The language a signed-in person reads: a client's account language, a staff member's own,
    else the provider's default."""
    chosen = ""
    # Clients are a provider's (the public schema, the platform's, has none: its users' role
    # field keeps its default).
    if getattr(user, "role", "") == Role.CLIENT and connection.schema_name != "public":
        try:
            chosen = user.client.language  # type: ignore[attr-defined]  # clients.Client, one to one
        except ObjectDoesNotExist:
            chosen = ""
    chosen = chosen or getattr(user, "language", "")
    return supported(chosen) or provider_default()


def _browser_names_one(request: HttpRequest) -> bool:
    if supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)):
        return True
    return any(supported(lang) for lang, _q in parse_accept_lang_header(request.META.get("HTTP_ACCEPT_LANGUAGE", "")))


class LanguageMiddleware:
    """After AuthenticationMiddleware: a signed-in person's stored language wins over what
    LocaleMiddleware read from the cookie or the browser."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        language = ""
        if user is not None and user.is_authenticated:
            language = user_language(user)
        elif not _browser_names_one(request):
            language = provider_default()
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)


def chosen_or_default(code: str | None) -> str:
    """A stored choice (a client's `language`, "" for none) made good: the provider's default when blank."""
    return supported(code) or provider_default()
