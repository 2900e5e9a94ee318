"""Pages on a phone-sized screen (390 px): the portal's header keeps to two rows with a menu
that scrolls sideways; the audit log shows each event as a card that says what happened in
words; the retention page previews the periods typed in the form without saving them.

And every page, with a year of demo data behind it (web.demo_year): the owner walks every
dashboard page and the client every portal page of the tenant URLconf. On each, the page is no
wider than the screen; in list tables the amount and status cells are on screen (the table turns
into cards, it does not push them off to the right); tab bars wrap so that every tab is on
screen. The cookie banner takes little of the screen."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.urls import get_resolver
from django.urls.resolvers import URLPattern, URLResolver
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from tests.billing_helpers import own_provider
from tests.conftest import PASSWORD
from tests.e2e.conftest import AppServer
from tests.e2e.test_billing_wizard_browser import log_in

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone_provider(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    from accounts.models import User
    from accounts.services import audit
    from clients.models import Category, Client

    with own_provider(django_db_blocker, "phn", name="Maji ya Kijiji Community Water Project") as made:
        with django_db_blocker.unblock(), tenant_context(made):
            user = User.objects.create_user(f"client@{made.slug}.test", PASSWORD, full_name="Achieng Otieno",
                                            role="client")
            client = Client.objects.create(account_number="K001", full_name="Achieng Otieno", user=user,
                                           category=Category.objects.get(code="domestic"), phone="+254711222444")
            audit(actor=f"owner@{made.slug}.test", action="statement.exported", target=client, object_repr="K001",
                  format="pdf")
            audit(actor=f"owner@{made.slug}.test", action="privacy.retention.settings_changed",
                  object_repr="retention", before={"audit_months": 12}, after={"audit_months": 24})
        connection.set_schema_to_public()
        yield made


def _on_a_phone_as(page: Page, app_server: AppServer, provider, who: str) -> str:  # type: ignore[no-untyped-def]
    """Logged in on a phone-sized screen, the cookie question answered; returns the slug."""
    page.set_viewport_size(PHONE)
    log_in(page, app_server, provider.slug, f"{who}@{provider.slug}.test")
    page.get_by_role("button", name="Essential only").click()
    expect(page.get_by_role("button", name="Essential only")).to_be_hidden()
    return provider.slug


def test_the_portal_header_is_two_rows_with_a_sideways_menu(page: Page, app_server: AppServer,
                                                            phone_provider, tmp_path) -> None:  # type: ignore[no-untyped-def]
    slug = _on_a_phone_as(page, app_server, phone_provider, "client")
    page.goto(app_server.url(slug, "/portal/privacy/"))
    brand = page.locator(".portal-header .brand").bounding_box()
    logout = page.get_by_role("button", name="Log out").bounding_box()
    nav = page.locator(".portal-nav")
    box = nav.bounding_box()
    assert brand and logout and box
    assert abs((brand["y"] + brand["height"] / 2) - (logout["y"] + logout["height"] / 2)) < 8  # one row
    assert box["y"] >= logout["y"] + logout["height"] - 1 and box["height"] < 60  # the menu: one row below
    assert page.locator(".portal-header").bounding_box()["height"] < 130  # type: ignore[index]
    assert nav.evaluate("n => n.scrollWidth > n.clientWidth")  # it scrolls sideways...
    active = page.locator(".portal-nav a.active").bounding_box()  # ...and the current page's item is in view
    assert active and active["x"] >= 0 and active["x"] + active["width"] <= PHONE["width"]
    expect(page.locator(".portal-nav a.active")).to_have_text("Privacy")
    page.screenshot(path=str(tmp_path / "portal-phone.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no page-wide sideways scroll


def test_the_audit_log_and_retention_preview_on_a_phone(page: Page, app_server: AppServer,
                                                         phone_provider, tmp_path) -> None:  # type: ignore[no-untyped-def]
    slug = _on_a_phone_as(page, app_server, phone_provider, "owner")
    page.goto(app_server.url(slug, "/dashboard/audit/"))
    row = page.get_by_test_id("audit-row").filter(has_text="Changed retention periods")
    expect(row).to_contain_text("audit months: 12 → 24")
    expect(page.get_by_test_id("audit-row").filter(has_text="Downloaded a statement")).to_contain_text("Format: pdf")
    header = page.locator("table.stack-sm thead").bounding_box()
    assert header and header["height"] <= 1  # out of sight, still read out: the cells keep their headers
    expect(page.get_by_role("columnheader", name="Details")).to_have_count(1)
    # Cards by CSS, still a table to a screen reader (Safari drops that for display: block).
    assert page.locator("table.stack-sm").get_attribute("role") == "table"
    assert row.get_attribute("role") == "row"
    assert row.locator('td[data-label="Details"]').get_attribute("role") == "cell"
    assert page.locator("table.stack-sm th").first.get_attribute("role") == "columnheader"
    details = row.locator('td[data-label="Details"]').bounding_box()
    assert details and details["width"] > PHONE["width"] * 0.6  # a card: every cell has the row's width
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "audit-phone.png"), full_page=True)

    page.goto(app_server.url(slug, "/dashboard/privacy/retention/"))
    page.get_by_label("Raw payment callbacks").fill("30")
    page.get_by_test_id("retention-preview").click()
    result = page.get_by_test_id("retention-preview-result")
    expect(result).to_contain_text("would be removed today under the periods in the form")
    expect(result).to_be_in_viewport()  # the answer is where the phone shows it, not below the form
    expect(page.get_by_test_id("retention-unsaved")).to_contain_text("Raw payment callbacks")
    expect(page.get_by_label("Raw payment callbacks")).to_have_value("30")  # kept, not saved
    page.screenshot(path=str(tmp_path / "retention-phone.png"), full_page=True)
    page.goto(app_server.url(slug, "/dashboard/privacy/retention/"))
    expect(page.get_by_label("Raw payment callbacks")).to_have_value("90")


def test_side_by_side_fields_line_up_and_stack_on_a_phone(page: Page, app_server: AppServer,
                                                         phone_provider) -> None:  # type: ignore[no-untyped-def]
    slug = _on_a_phone_as(page, app_server, phone_provider, "owner")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(app_server.url(slug, "/dashboard/payments/statement/"))
    date_from, date_to = page.get_by_label("From").bounding_box(), page.get_by_label("To").bounding_box()
    assert date_from and date_to
    # Side by side on a laptop, the boxes level although only "To" has a help text under it.
    assert abs(date_from["y"] - date_to["y"]) < 1 and date_to["x"] > date_from["x"] + date_from["width"]
    assert abs(date_from["height"] - date_to["height"]) < 1
    page.set_viewport_size(PHONE)
    date_from, date_to = page.get_by_label("From").bounding_box(), page.get_by_label("To").bounding_box()
    assert date_from and date_to and date_to["y"] > date_from["y"] + date_from["height"]  # one under the other
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


# --- every page -----------------------------------------------------------------------------
# Not pages: actions (POST only), downloads (PDF, CSV, photos) and polling endpoints (JSON).
NOT_PAGES = {
    "api_key_revoke", "notification_test", "broadcast_status", "run_recompute", "run_finalize", "run_discard",
    "invoice_pdf", "client_statement_pdf", "entry_reverse", "payment_receipt_pdf", "payment_register_c2b",
    "portal_statement_pdf", "portal_invoice_pdf", "portal_receipt_pdf", "portal_pay_status", "portal_card_return",
    "privacy_export_status", "privacy_export_download", "privacy_provider_export_status",
    "privacy_provider_export_download", "privacy_retention_preview", "reading_photo", "privacy_provider_export",
    "staff_change_role", "staff_deactivate", "staff_reactivate", "staff_hand_over", "staff_invite_resend",
    "staff_invite_revoke", "request_photo", "work_order_photo", "work_order_not_done", "work_order_assign",
    "client_charge", "client_charge_reverse", "leak_alert_close",
}
# Pages with arguments the demo's year has no row for (a data request, a readings upload, a
# payment request made in the portal); tests/accounts/test_no_dead_links.py renders them with data.
NO_DEMO_ROW = {"privacy_request", "reading_import", "portal_pay_request"}

# What the layout must hold, measured in the page: its width, the list tables' amount and status
# cells (td.num, a td holding a .badge; their first rows) inside the screen unless hidden on
# purpose (a secondary column, .hide-sm), and every tab on it.
CHECK_JS = """() => {
  const width = window.innerWidth, problems = [];
  const onScreen = (el) => { const b = el.getBoundingClientRect();
    return getComputedStyle(el).display !== 'none' && b.width > 0 && b.left >= -1 && b.right <= width + 1; };
  const doc = document.documentElement.scrollWidth;
  if (doc > width) problems.push(`page ${doc}px wide`);
  document.querySelectorAll('table').forEach((table, t) => {
    if (table.closest('.modal, details:not([open])')) return;
    [...table.querySelectorAll('tbody tr')].slice(0, 3).forEach((row) => {
      row.querySelectorAll('td.num, td:has(.badge)').forEach((cell) => {
        if (getComputedStyle(cell).display === 'none') return;  // a secondary column hidden on phones
        if (!onScreen(cell)) problems.push(`table ${t}: "${(cell.dataset.label || cell.textContent).trim().slice(0, 30)}" off screen`);
      });
    });
  });
  document.querySelectorAll('.tabs a').forEach((tab) => {
    if (!onScreen(tab)) problems.push(`tab "${tab.textContent.trim()}" off screen`);
  });
  return problems;
}"""
FETCH_JS = """async (path) => { const r = await fetch(path, {credentials: 'same-origin'});
  return [r.status, r.headers.get('content-type')]; }"""


def _patterns(resolver=None, prefix: str = ""):  # type: ignore[no-untyped-def]
    for p in (resolver or get_resolver("web.urls_tenant")).url_patterns:
        if isinstance(p, URLResolver):
            yield from _patterns(p, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.name


@pytest.fixture(scope="module")
def demo_provider(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """A provider with the demo's year (8 clients) and its arrears and field work (web.demo_field),
    a credit note and a broadcast; its demo
    logins (owner@<slug>.test from own_provider, client@<slug>.demo) on the test password."""
    from accounts.models import User
    from billing.models import Invoice
    from billing.services import credit_note_create
    from notifications.models import Broadcast
    from web import demo

    with own_provider(django_db_blocker, "lay", name="Maji ya Kijiji Community Water Project") as made:
        with django_db_blocker.unblock(), tenant_context(made):
            demo.seed_provider(made.slug, clients=8)
            for user in User.objects.filter(email__endswith=".demo"):
                user.set_password(PASSWORD)
                user.save(update_fields=["password"])
            invoice = Invoice.objects.filter(status="issued").order_by("-period", "number").first()
            credit_note_create(invoice=invoice, amount="50.00", reason="Leak allowance on the meter", actor="test")
            Broadcast.objects.create(title="Water off on Monday for mains repairs", purpose="supply", channels=["sms"],
                                     sms_text="{provider}: no water on Monday 9am-4pm while the main is repaired.")
            made.page_args = _ids(made)
        connection.set_schema_to_public()
        yield made


def _ids(slug_provider) -> dict[str, list[object]]:  # type: ignore[no-untyped-def]
    """The arguments each page with arguments is visited with (the demo's own rows)."""
    from arrears.models import PaymentPlan
    from billing.models import BillingRun, Fee, Invoice, Tariff
    from clients.models import Client
    from fieldwork.models import ServiceRequest, WorkOrder
    from meters.models import Meter, Reading
    from notifications.models import Broadcast, Message
    from payments.models import Payment

    with tenant_context(slug_provider):
        client = Client.objects.order_by("account_number")[2]  # pays about half: a long statement
        portal_client = Client.objects.get(user__email__endswith=".demo")
        first = lambda qs: qs.values_list("pk", flat=True).first()  # noqa: E731
        pks = {
            "message_detail": first(Message.objects.order_by("-pk")),
            "client_detail": client.pk, "client_edit": client.pk, "client_message": client.pk,
            "client_preferences": client.pk, "client_statement": client.pk, "client_adjust": client.pk,
            "broadcast_detail": first(Broadcast.objects.all()),
            "meter_replace": first(Meter.objects.all()), "meter_detail": first(Meter.objects.all()),
            "meter_reading": first(Meter.objects.all()),
            "review_decide": first(Reading.objects.filter(status="flagged")),
            "run_detail": first(BillingRun.objects.order_by("-period")),
            "invoice_detail": first(Invoice.objects.filter(credit_notes__isnull=False)),
            "invoice_credit": first(Invoice.objects.order_by("-pk")),
            "tariff_detail": first(Tariff.objects.all()),
            "fee_edit": first(Fee.objects.order_by("code")), "client_close": client.pk,
            "payment_detail": first(Payment.objects.filter(status="matched").order_by("-paid_at")),
            "payment_reconcile": first(Payment.objects.filter(status="unmatched")),
            "payment_reverse": first(Payment.objects.filter(status="matched").order_by("-paid_at")),
            "portal_invoice": first(Invoice.objects.filter(client=portal_client).order_by("-period")),
            "portal_receipt": first(Payment.objects.filter(client=portal_client).order_by("-paid_at")),
            "plan_detail": first(PaymentPlan.objects.filter(status="active")),
            "request_detail": first(ServiceRequest.objects.filter(status="resolved")),
            "work_order_detail": first(WorkOrder.objects.filter(status="open")),
        }
    args = {name: [pk] for name, pk in pks.items() if pk is not None}
    args["template_edit"] = ["invoice_issued", "sms"]
    return args


def _paths(prefix: str, args: dict[str, list[object]]) -> tuple[list[str], list[str]]:
    """The pages under `prefix` (paths to visit) and those skipped for want of arguments."""
    paths, skipped = [], []
    for pattern, name in _patterns():
        if not pattern.startswith(prefix) or name in NOT_PAGES:
            continue
        params = re.findall(r"<[^>]+>", pattern)
        if params and name not in args:
            skipped.append(name)
            continue
        path = pattern
        for param, value in zip(params, args.get(name, []), strict=False):
            path = path.replace(param, str(value), 1)
        paths.append("/" + path)
    return paths, skipped


def _log_in_demo(page: Page, app_server: AppServer, slug: str, email: str) -> None:
    page.set_viewport_size(PHONE)
    page.goto(app_server.url(slug, "/accounts/login/"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("cookie-banner")).to_be_visible()


def _walk(page: Page, app_server: AppServer, slug: str, paths: list[str]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        # Asked first from the page (*.localhost resolves in the browser only): what is no page is skipped.
        status, kind = page.evaluate(FETCH_JS, path)
        assert status < 500, f"{path}: {status}"
        if status != 200 or "text/html" not in (kind or ""):
            continue  # an action that takes no GET (405), or a redirect's end that is no page
        response = page.goto(app_server.url(slug, path))
        assert response is not None and response.status == 200, path
        problems = page.evaluate(CHECK_JS)
        if problems:
            found[path] = problems
    return found


def test_every_dashboard_page_fits_a_phone_for_the_owner(page: Page, app_server: AppServer,
                                                          demo_provider, tmp_path) -> None:  # type: ignore[no-untyped-def]
    slug = demo_provider.slug
    _log_in_demo(page, app_server, slug, f"owner@{slug}.test")
    # The cookie banner is compact: a strip at the foot of the first page, not a wall.
    banner = page.get_by_test_id("cookie-banner").bounding_box()
    assert banner and banner["height"] <= 150 and banner["width"] <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "cookie-banner.png"), full_page=True)
    page.get_by_role("button", name="Essential only").click()
    expect(page.get_by_test_id("cookie-banner")).to_be_hidden()
    paths, skipped = _paths("dashboard/", demo_provider.page_args)
    assert len(paths) >= 40, paths
    assert set(skipped) <= NO_DEMO_ROW, f"give these pages an example in _ids() or list them in NOT_PAGES: {skipped}"
    problems = _walk(page, app_server, slug, paths)
    assert not problems, "\n".join(f"{path}: {found}" for path, found in problems.items())
    # A list on a phone: one card per row, its amount and status in view (data-label says which).
    page.goto(app_server.url(slug, "/dashboard/billing/invoices/"))
    row = page.locator("table.stack-sm tbody tr").first
    amount = row.locator('td[data-label="Total"]')
    expect(amount).to_be_in_viewport()
    assert row.bounding_box()["width"] <= PHONE["width"]  # type: ignore[index]
    page.screenshot(path=str(tmp_path / "invoices-phone.png"), full_page=True)


def test_every_portal_page_fits_a_phone_for_the_client(page: Page, app_server: AppServer,
                                                        demo_provider, tmp_path) -> None:  # type: ignore[no-untyped-def]
    slug = demo_provider.slug
    _log_in_demo(page, app_server, slug, f"client@{slug}.demo")
    page.get_by_role("button", name="Essential only").click()
    paths, skipped = _paths("portal/", demo_provider.page_args)
    assert {"/portal/", "/portal/bills/", "/portal/statement/", "/portal/payments/"} <= set(paths)
    assert set(skipped) <= NO_DEMO_ROW, f"give these pages an example in _ids() or list them in NOT_PAGES: {skipped}"
    problems = _walk(page, app_server, slug, paths)
    assert not problems, "\n".join(f"{path}: {found}" for path, found in problems.items())
    page.goto(app_server.url(slug, "/portal/bills/"))
    page.screenshot(path=str(tmp_path / "portal-bills-phone.png"), full_page=True)
