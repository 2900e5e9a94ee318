"""No link leads to a 403: signed in as each staff role (and as a client), open every page the role
may open (with one of everything present, from the authorisation matrix's `world`), follow every
same-site link from there on, and check that no <a href> answers 403 and that every form posts to
a view the role may use."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.test import Client as Http
from django.urls import Resolver404, resolve

from accounts.models import Role
from accounts.permissions import PUBLIC, SIGNED_IN, view_access
from tests.accounts.test_authorization_matrix import (
    PEOPLE,
    TENANT_URLCONF,
    Route,
    allowed,
    concrete,
    tenant_routes,
    world,  # noqa: F401 - the fixture
)
from tests.conftest import host_of, login

# Pages not crawled (none: the home page adapts its links to the role too).
EXCLUDED_PAGES: set[str] = set()
MAX_PAGES = 400  # per visitor: a guard against a crawl that never ends


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.forms: list[tuple[str, str]] = []  # (method, action)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"] or "")
        elif tag == "form":
            self.forms.append(((a.get("method") or "get").upper(), a.get("action") or ""))


def same_site(href: str, page: str) -> str | None:
    """The path (and query) of a link to this provider's own pages, or None."""
    parts = urlsplit(href)
    if parts.scheme and parts.scheme not in ("http", "https"):
        return None  # mailto:, tel:
    if parts.netloc and parts.netloc.split(":")[0] != host_of("alpha"):
        return None
    path = parts.path or urlsplit(page).path
    if not path.startswith("/") or path.startswith((settings.STATIC_URL, "/media/")):
        return None
    return path + (f"?{parts.query}" if parts.query else "")


def shape(url: str) -> str:
    """One page of each kind: the same path with the same query keys (page=2 is page=3)."""
    parts = urlsplit(url)
    return parts.path + "?" + ",".join(sorted({k for k, _ in parse_qsl(parts.query, keep_blank_values=True)}))


def route_of(path: str) -> Route | None:
    try:
        match = resolve(path, urlconf=TENANT_URLCONF)
    except Resolver404:
        return None
    return Route(match.route, match.url_name, match.func)


def crawl(http: Http, role: str, seeds: list[str]) -> tuple[list[str], int]:
    problems: list[str] = []
    queue = list(seeds)
    seen = {shape(u) for u in queue}
    came_from: dict[str, str] = {}
    opened = 0
    while queue and opened < MAX_PAGES:
        url = queue.pop(0)
        response = http.get(url)
        opened += 1
        if response.status_code == 403:
            problems.append(f"{role}: {url} answers 403" + (f" (linked from {came_from[url]})" if url in came_from else ""))
            continue
        if response.status_code != 200 or not response.get("Content-Type", "").startswith("text/html"):
            continue
        if urlsplit(url).path in EXCLUDED_PAGES:
            continue
        parser = Links()
        parser.feed(response.content.decode())
        for href in parser.hrefs:
            target = same_site(href, url)
            if target is None or shape(target) in seen:
                continue
            seen.add(shape(target))
            route = route_of(urlsplit(target).path)
            if route is not None and not allowed(route, role, "GET"):
                problems.append(f"{role}: {url} links to {target}, which {route.name!r} refuses them "
                                f"(declares {view_access(route.callback)!r})")
                continue
            queue.append(target)
            came_from[target] = url
        for method, action in parser.forms:
            target = same_site(action, url) if action else urlsplit(url).path
            route = route_of(urlsplit(target or "").path) if target else None
            if route is None:
                continue
            if not allowed(route, role, method):
                problems.append(f"{role}: {url} has a form ({method}) to {target}, which {route.name!r} refuses "
                                f"them (declares {view_access(route.callback)!r})")
    return problems, opened


def test_no_page_shows_a_link_its_viewer_cannot_open(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    problems = []
    for role in (Role.OWNER, Role.MANAGER, Role.ACCOUNTANT, Role.METER_READER, Role.CLIENT):
        http = Http(HTTP_HOST=host_of("alpha"))
        assert login(http, PEOPLE[role]).status_code == 302
        # Every page the role may open, with an example of what it names, then what they link to.
        seeds = []
        for r in tenant_routes():
            declared = view_access(r.callback)
            if r.is_api or declared in (PUBLIC, SIGNED_IN) or not allowed(r, str(role), "GET"):
                continue
            seeds.append(concrete(r, world))
        found, opened = crawl(http, str(role), seeds)
        assert opened > 10, (role, opened)
        problems += found
    assert not problems, f"{len(problems)} dead ends:\n" + "\n".join(problems)


SIDEBAR = {  # each item of the dashboard's sidebar, and what its page asks
    "/dashboard/": "dashboard.view", "/dashboard/clients/": "clients.view", "/dashboard/meters/": "clients.view",
    "/dashboard/readings/": "readings.record", "/dashboard/billing/": "billing.view",
    "/dashboard/payments/": "payments.view", "/dashboard/messages/": "messages.view",
    "/dashboard/privacy/requests/": "privacy.requests", "/dashboard/audit/": "audit.view",
    "/dashboard/settings/": "settings.view", "/dashboard/requests/": "service_requests.view",
    "/dashboard/field/": "work_orders.view",
}


def test_the_sidebar_shows_each_role_what_it_can_open(tenant) -> None:  # type: ignore[no-untyped-def]
    from accounts.permissions import CAPABILITIES

    for role in (Role.OWNER, Role.MANAGER, Role.ACCOUNTANT, Role.METER_READER):
        http = Http(HTTP_HOST=host_of("alpha"))
        login(http, PEOPLE[role])
        page = http.get("/dashboard/settings/").content.decode()
        sidebar = page[page.index('<aside class="sidebar"'):page.index("</aside>")]
        parser = Links()
        parser.feed(sidebar)
        shown = {h for h in parser.hrefs if h in SIDEBAR}
        assert shown == {path for path, cap in SIDEBAR.items() if role in CAPABILITIES[cap]}, role
        # Reports are not there yet: announced to those who will have them only.
        assert ("Reports" in sidebar) == (role in CAPABILITIES["reports.view"]), role
        for path in shown:
            assert http.get(path).status_code == 200, (role, path)
