"""Acceptance of the privacy policy and terms by a provider's users (staff and clients), and the
middleware that asks for it at the next login once a new version is published.

The versions live in the public schema (tenants.PolicyVersion); acceptances live in each
provider's schema (PolicyAcceptance, by user id), so an acceptance on one provider's domain
never counts on another's. The first recorded versions (asks_acceptance off: what sign-ups
accepted before versions were kept) are asked of nobody; every version published after them is
asked of every user who has not accepted it.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.functional import SimpleLazyObject
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.services import audit
from privacy.models import PolicyAcceptance
from tenants.models import PolicyVersion
from tenants.selectors import current_policy_versions

POLICY_PATH = "/accounts/policy/"
SESSION_KEY = "policy_ok"  # the required versions this session's user has accepted already
# Never held back: the page itself, leaving, assets, machine callers (API keys, payment and
# SMS callbacks), the policy texts, the cookie choice, health checks.
EXEMPT_PREFIXES = (POLICY_PATH, "/accounts/logout/", "/static/", "/media/", "/api/", "/payments/mpesa/",
                   "/payments/c2b/", "/payments/stk/", "/payments/paystack/", "/notifications/sms/",
                   "/privacy/", "/terms/", "/cookies/", "/healthz")


def required_versions(*, fresh: bool = False) -> dict[str, PolicyVersion]:
    """The versions in force that users must accept (none while only the first recorded ones are)."""
    return {kind: v for kind, v in current_policy_versions(fresh=fresh).items() if v.asks_acceptance and v.pk}


def signature(versions: dict[str, PolicyVersion]) -> str:
    return "|".join(f"{kind}:{versions[kind].version}" for kind in sorted(versions))


def policy_pending(user: object, *, fresh: bool = True) -> list[PolicyVersion]:
    """The versions in force that `user` has not accepted in this schema."""
    required = required_versions(fresh=fresh)
    if not required:
        return []
    accepted = set(PolicyAcceptance.objects.filter(user_id=user.pk, kind__in=list(required))  # type: ignore[attr-defined]
                   .values_list("kind", "version"))
    return [v for kind, v in sorted(required.items()) if (kind, v.version) not in accepted]


def policy_accept(*, user: object, versions: list[PolicyVersion] | dict[str, str], source: str,
                  ip: str = "") -> list[PolicyAcceptance]:
    """Record that `user` accepted these versions (PolicyVersion rows, or {kind: version}).
    Accepting a version twice keeps the first record."""
    pairs = versions.items() if isinstance(versions, dict) else [(v.kind, v.version) for v in versions]
    made = []
    for kind, version in pairs:
        try:
            with transaction.atomic():  # a double click: the second insert meets the unique constraint
                made.append(PolicyAcceptance.objects.create(user_id=user.pk, kind=kind, version=version,  # type: ignore[attr-defined]
                                                            source=source, ip=ip))
        except IntegrityError:
            continue
    if made:
        audit(actor=user, action="policy.accepted", object_repr=", ".join(f"{a.kind} {a.version}" for a in made),
              target=("user", user.pk), source=source,  # type: ignore[attr-defined]
              versions={a.kind: a.version for a in made})
    return made


def safe_next(request: HttpRequest, target: str | None, default: str = "/") -> str:
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default


def _policy_url(next_path: str) -> str:
    return f"{POLICY_PATH}?next={quote(next_path, safe='/')}"


class PolicyAcceptanceMiddleware:
    """On a provider's domain, a signed-in user who has not accepted the privacy policy and terms
    in force is sent to POLICY_PATH first (then on to where they were going).

    Cheap on every request: the versions in force come from the platform cache and the session
    remembers what its user accepted, so a request costs no query unless a new version appeared
    or the user just logged in (then the table is read fresh, never the cache)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        if tenant is None or tenant.schema_name == "public" or request.path.startswith(EXEMPT_PREFIXES):
            return self.get_response(request)
        was_authenticated = request.user.is_authenticated
        if was_authenticated:
            wanted = signature(required_versions())
            if wanted and request.session.get(SESSION_KEY) != wanted and not self._settled(request):
                return self._redirect(request, request.get_full_path())
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if not was_authenticated and user is not None and user.is_authenticated:
            # Just logged in (the login form, the sign-up hand-off, registration): ask now.
            if not self._settled(request) and response.status_code in (301, 302, 303):
                return self._redirect(request, response["Location"])
        return response

    def _settled(self, request: HttpRequest) -> bool:
        """Whether the user has accepted what is in force (read fresh); remembered in the session."""
        pending = policy_pending(request.user)
        if pending:
            return False
        wanted = signature(required_versions())
        if wanted and request.session.get(SESSION_KEY) != wanted:
            request.session[SESSION_KEY] = wanted
        return True

    def _redirect(self, request: HttpRequest, next_path: str) -> HttpResponse:
        target = _policy_url(safe_next(request, next_path))
        if request.headers.get("HX-Request"):  # htmx would swap the page into a fragment
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        return HttpResponseRedirect(target)


def remember_accepted(request: HttpRequest) -> None:
    """After accepting on POLICY_PATH: this session needs no further check until a new version."""
    request.session[SESSION_KEY] = signature(required_versions(fresh=True))


def policy_context(request: HttpRequest) -> dict[str, object]:
    """Template context: the versions in force (read only by the footers that show them)."""
    return {"policy_versions": SimpleLazyObject(current_policy_versions)}
