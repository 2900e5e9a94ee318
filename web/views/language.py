"""The language switch (every page's footer): before login a cookie (Django's LocaleMiddleware
reads it); signed in, POSTed, the person's stored language too (a client's account language, a
staff member's own), which everything sent to them then uses."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from accounts.languages import supported
from accounts.models import Role
from accounts.permissions import public
from accounts.services import user_language_set
from clients.services import client_update
from majismart.tenancy import connection


@public
@require_http_methods(["GET", "POST"])
def language_switch(request: HttpRequest, code: str) -> HttpResponse:
    language = supported(code)
    if language != code:
        raise Http404
    data = request.POST if request.method == "POST" else request.GET
    target = data.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = "/"
    user = request.user
    # Stored only on a POST (the footer's form, with its CSRF token): a link elsewhere cannot
    # change what a signed-in person's messages are written in.
    if request.method == "POST" and user.is_authenticated:
        if user.role == Role.CLIENT and connection.schema_name != "public":  # platform users are no clients
            try:
                client = user.client
            except ObjectDoesNotExist:
                client = None
            if client is not None:
                client_update(client=client, actor=user, language=language)
        else:
            user_language_set(user=user, language=language)
    response = redirect(target)
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, max_age=settings.LANGUAGE_COOKIE_AGE,
                        samesite="Lax", secure=request.is_secure(), httponly=True)
    return response
