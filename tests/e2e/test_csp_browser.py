"""The Content-Security-Policy in a real browser: a provider's owner walks every page the dashboard
links to, a client every portal page, a visitor the public site and a platform admin Django's
admin, and Chromium refuses nothing (it reports each refusal as a console error "Refused to ...",
and fires a securitypolicyviolation event)."""

from __future__ import annotations

import re
from datetime import date, datetime
from urllib.parse import urldefrag, urlsplit

import pytest
from django.db import connection
from django_tenants.utils import tenant_context
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from tests.billing_helpers import NBO, D, domestic_tariff, own_provider
from tests.conftest import PASSWORD
from tests.e2e.conftest import AppServer
from tests.e2e.test_billing_wizard_browser import log_in

pytestmark = pytest.mark.e2e

# Links that end the session, download a file or leave the site are not walked.
NOT_WALKED = re.compile(r"/logout/|/pdf/|/download/|\.(pdf|csv|zip)$|/export/[^/]+/$|\?script|[?&]export=")
MAX_PAGES = 160  # the dashboard (reports included) and the portal

WATCH = """document.addEventListener("securitypolicyviolation", function (e) {
  (window.__violations = window.__violations || []).push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});"""


@pytest.fixture
def walked_provider(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """A provider with a billed client who has a portal login, a payment and M-Pesa set up."""
    from accounts.models import User
    from billing.runs import billing_run_finalize, billing_run_start
    from clients.models import Category, Client
    from meters.services import meter_create, readings_record
    from payments.services import payment_record
    from tests.payments_helpers import mpesa_ready

    with own_provider(django_db_blocker, "csp", name="Strict Water") as made:
        with django_db_blocker.unblock(), tenant_context(made):
            domestic_tariff()
            client = Client.objects.create(account_number="S001", full_name="Wanjiru Strict",
                                           category=Category.objects.get(code="domestic"), phone="+254712345678")
            client.user = User.objects.create_user(f"client@{made.slug}.test", PASSWORD, full_name="Wanjiru Strict",
                                                   role="client")
            client.save()
            meter = meter_create(actor="e2e", serial=f"SM-{made.slug}", client=client, installed_on=date(2026, 1, 1))
            assert readings_record([
                {"meter": meter.serial, "value": "100", "read_at": "2026-09-30T09:00:00+03:00"},
                {"meter": meter.serial, "value": "112", "read_at": "2026-10-31T09:00:00+03:00"}], source="api").errors == []
            billing_run_finalize(run=billing_run_start(period="2026-10", actor="e2e")[0], actor="e2e")
            payment_record(method="cash", receipt="CASH-CSP-1", amount=D("200.00"), client=client,
                           paid_at=datetime(2026, 11, 10, 12, tzinfo=NBO))
            mpesa_ready()
        connection.set_schema_to_public()
        yield made


class Walk:
    """Visits pages in one tab, following same-origin links under `within` breadth first (one
    page per URL shape: /clients/7/ and /clients/9/ use the same template), and records every
    CSP refusal Chromium reports."""

    def __init__(self, page: Page) -> None:
        self.page, self.refused, self.visited = page, [], []  # type: ignore[var-annotated]
        page.context.add_init_script(WATCH)  # run by the browser itself, outside the page's CSP
        page.on("console", self._console)

    def _console(self, message) -> None:  # type: ignore[no-untyped-def]
        text = message.text
        if message.type == "error" and ("Content Security Policy" in text or text.startswith("Refused to")):
            self.refused.append(f"{self.page.url}: {text}")

    def visit(self, url: str) -> bool:
        try:
            response = self.page.goto(url)
        except PlaywrightError as exc:  # a link that turned out to be a download
            if "Download is starting" in str(exc):
                return False
            raise
        assert response is not None
        self.page.wait_for_load_state("load")
        self.visited.append(url)
        if "text/html" in response.headers.get("content-type", ""):
            policy = response.headers.get("content-security-policy", "")
            assert "script-src 'self'" in policy and "default-src 'self'" in policy, url
        self.refused += [f"{url}: {v}" for v in self.page.evaluate("window.__violations || []")]
        return True

    def crawl(self, start: str, within: str) -> None:
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(start))
        queue, shapes = [start], set()
        while queue and len(self.visited) < MAX_PAGES:
            url = queue.pop(0)
            shape = re.sub(r"\d+", "N", urlsplit(url).path)
            if shape in shapes:
                continue
            shapes.add(shape)
            if not self.visit(url):
                continue
            for href in self.page.eval_on_selector_all("a[href]:not([download])", "els => els.map(e => e.href)"):
                href = urldefrag(href)[0]
                parts = urlsplit(href)
                if (f"{parts.scheme}://{parts.netloc}" == origin and parts.path.startswith(within)
                        and not NOT_WALKED.search(href)):
                    queue.append(href)


def test_no_page_breaks_the_content_security_policy(page: Page, app_server: AppServer, walked_provider) -> None:  # type: ignore[no-untyped-def]
    slug = walked_provider.slug
    walk = Walk(page)

    # A visitor on the platform's public site.
    for path in ("/", "/signup/", "/login/", "/privacy/", "/terms/", "/cookies/"):
        walk.visit(app_server.url(None, path))

    # The provider's owner, through everything the dashboard links to.
    walk.visit(app_server.url(slug, "/accounts/login/"))
    log_in(page, app_server, slug, f"owner@{slug}.test")
    expect(page).to_have_url(app_server.url(slug, "/dashboard/"))
    walk.crawl(app_server.url(slug, "/dashboard/"), "/dashboard/")
    dashboard_pages = len(walk.visited)
    assert dashboard_pages > 25, walk.visited
    assert any("/dashboard/clients/" in url for url in walk.visited)
    walk.visit(app_server.url(slug, "/api/docs/"))  # Swagger UI: its start-up script is a file
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("MajiSmart API")

    # What the inline styles did is now done by static files: the branding preview's colour.
    walk.visit(app_server.url(slug, "/dashboard/settings/branding/"))
    preview = page.locator(".brand-preview")
    colour = preview.get_attribute("data-brand-color")
    assert colour and preview.evaluate("el => getComputedStyle(el).borderTopWidth") == "6px"
    rgb = "rgb({}, {}, {})".format(*(int(colour[i:i + 2], 16) for i in (1, 3, 5)))
    assert preview.evaluate("el => getComputedStyle(el).borderTopColor") == rgb

    # The client, through the portal.
    page.context.clear_cookies()
    log_in(page, app_server, slug, f"client@{slug}.test")
    expect(page.get_by_test_id("portal-balance")).to_be_visible()
    walk.crawl(app_server.url(slug, "/portal/"), "/portal/")
    assert len(walk.visited) - dashboard_pages > 8, walk.visited
    assert any(re.search(r"/portal/bills/\d+/$", url) for url in walk.visited)

    # A platform admin in Django's admin.
    page.context.clear_cookies()
    walk.visit(app_server.url(None, "/admin/login/"))
    page.locator("#id_username").fill("root@platform.test")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page.locator("#site-name")).to_be_visible()
    for path in ("/admin/", "/admin/tenants/provider/", "/admin/tenants/provider/add/"):
        walk.visit(app_server.url(None, path))

    assert walk.refused == [], "\n".join(walk.refused)
