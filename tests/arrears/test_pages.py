"""The arrears pages: the disconnection list and starting one, the rule's settings, plans (made,
approved, declined), the client's plan in the portal, the owner's bad-debt write-off."""

from __future__ import annotations

from datetime import date

from django.test import Client as Http
from django_tenants.utils import tenant_context

from accounts.models import AuditEvent, User
from arrears import services
from arrears.models import ArrearsSettings, Disconnection, PaymentPlan
from billing.models import LedgerEntry
from billing.selectors import client_balance
from clients.models import Client
from tests.arrears.helpers import owing
from tests.arrears.test_disconnections import lates
from tests.billing_helpers import D
from tests.conftest import host_of, login


def as_(email: str, slug: str = "alpha") -> Http:
    http = Http(HTTP_HOST=host_of(slug))
    login(http, email)
    return http


def test_the_disconnection_list_and_starting_one(tenant, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    first, second, third = lates("First Late", "Second Late", "Third Late")
    amos = as_("amos@alpha.test")
    amos.get("/dashboard/arrears/")  # the session's first page (its own one-off queries)
    with django_assert_max_num_queries(16):
        page = amos.get("/dashboard/arrears/")
    assert page.status_code == 200
    text = page.content.decode()
    assert first.account_number in text and "KES 1,440.00" in text and "Start disconnection" in text
    response = amos.post("/dashboard/arrears/", {"client": first.pk})
    assert response.status_code == 302
    assert Disconnection.objects.get(client=first).notice_date == date(2026, 11, 30)
    amos.post("/dashboard/arrears/", {"client": second.pk})
    with django_assert_max_num_queries(12):
        listed = amos.get("/dashboard/arrears/disconnections/").content.decode()
    assert first.account_number in listed and "Notice sent" in listed
    anne = as_("anne@alpha.test")  # accountants see the list, start nothing
    assert anne.get("/dashboard/arrears/").status_code == 200
    assert "Start disconnection" not in anne.get("/dashboard/arrears/").content.decode()
    assert anne.post("/dashboard/arrears/", {"client": third.pk}).status_code == 403
    assert as_("ari@alpha.test").get("/dashboard/arrears/").status_code == 403
    assert not Disconnection.objects.filter(client=third).exists()


def test_the_rule_settings_are_saved_audited_and_checked(tenant) -> None:  # type: ignore[no-untyped-def]
    amos = as_("amos@alpha.test")
    bad = amos.post("/dashboard/arrears/settings/", {"disconnect_above": "lots", "disconnect_after_days": "-1",
                                                     "notice_days": "7", "plan_grace_days": "7"})
    assert bad.status_code == 400
    assert "Enter an amount in KES" in bad.content.decode() and "Enter a whole number of days" in bad.content.decode()
    ok = amos.post("/dashboard/arrears/settings/", {"disconnect_above": "2,000.00", "disconnect_after_days": "45",
                                                    "notice_days": "10", "plan_grace_days": "3",
                                                    "fixed_charges_when_disconnected": "on"})
    assert ok.status_code == 302
    from billing.models import BillingSettings

    cfg = ArrearsSettings.load()
    assert (cfg.disconnect_above, cfg.disconnect_after_days, cfg.notice_days, cfg.plan_grace_days) == (
        D("2000.00"), 45, 10, 3)
    # What a disconnected client is billed is billing's rule, set on this page.
    assert BillingSettings.load().disconnected_fixed_charges is True
    assert 'name="fixed_charges_when_disconnected" checked' in amos.get("/dashboard/arrears/settings/").content.decode()
    assert AuditEvent.objects.filter(action="arrears.settings_changed").exists()
    anne = as_("anne@alpha.test")
    assert anne.get("/dashboard/arrears/settings/").status_code == 200
    assert anne.post("/dashboard/arrears/settings/", {"notice_days": "1"}).status_code == 403


def test_plans_are_made_listed_and_shown(tenant, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    client = owing("10000.00")
    anne = as_("anne@alpha.test")  # accountants make plans
    form = anne.get(f"/dashboard/arrears/plans/new/?client={client.pk}")
    assert "KES 10,000.00" in form.content.decode()
    bad = anne.post("/dashboard/arrears/plans/new/", {"client": client.pk, "instalments": "1", "first_due": "2026-11-01"})
    assert bad.status_code == 400
    assert services.MSG_INSTALMENTS in bad.content.decode() and services.MSG_FIRST_DUE_PAST in bad.content.decode()
    made = anne.post("/dashboard/arrears/plans/new/", {"client": client.pk, "instalments": "3",
                                                       "first_due": "2026-12-01"})
    plan = PaymentPlan.objects.get(client=client)
    assert made.status_code == 302 and made["Location"] == f"/dashboard/arrears/plans/{plan.pk}/"
    shown = anne.get(f"/dashboard/arrears/plans/{plan.pk}/").content.decode()
    assert "KES 3,333.34" in shown and "KES 3,333.33" in shown
    on_client_page = anne.get(f"/dashboard/clients/{client.pk}/").content.decode()
    assert "Payment plan</a>: Active · KES 0.00 of KES 10,000.00 paid" in on_client_page
    for i in range(3):
        services.plan_create(client=owing("500.00", f"More {i}"), instalments=2, first_due=date(2026, 12, 1),
                             actor="test")
    anne.get("/dashboard/arrears/plans/")
    with django_assert_max_num_queries(14):
        listed = anne.get("/dashboard/arrears/plans/")
    assert listed.content.decode().count("/dashboard/arrears/plans/") >= 4
    assert as_("ari@alpha.test").get("/dashboard/arrears/plans/").status_code == 403


def test_a_client_asks_for_a_plan_in_the_portal_and_staff_decide(tenant) -> None:  # type: ignore[no-untyped-def]
    client = owing("2400.00", "Carol Chebet")
    Client.objects.filter(pk=client.pk).update(user=User.objects.get(email="carol@alpha.test"))
    carol = as_("carol@alpha.test")
    page = carol.get("/portal/plan/")
    assert page.status_code == 200 and "Ask for a payment plan" in page.content.decode()
    bad = carol.post("/portal/plan/", {"instalments": "0", "first_due": ""})
    assert bad.status_code == 400 and services.MSG_INSTALMENTS in bad.content.decode()
    assert carol.post("/portal/plan/", {"instalments": "4", "first_due": "2026-12-05",
                                        "note": "Paid monthly"}).status_code == 302
    plan = PaymentPlan.objects.get(client=client)
    assert plan.status == "requested" and "KES 600.00" in carol.get("/portal/plan/").content.decode()
    anne = as_("anne@alpha.test")
    no_reason = anne.post(f"/dashboard/arrears/plans/{plan.pk}/", {"decision": "decline", "reason": ""})
    assert no_reason.status_code == 400 and services.MSG_REASON in no_reason.content.decode()
    assert anne.post(f"/dashboard/arrears/plans/{plan.pk}/", {"decision": "approve"}).status_code == 302
    plan.refresh_from_db()
    assert plan.status == "active"
    again = anne.post(f"/dashboard/arrears/plans/{plan.pk}/", {"decision": "approve"})
    assert again.status_code == 400 and services.MSG_NOT_REQUESTED in again.content.decode()


def test_the_owner_writes_off_a_closed_accounts_bad_debt(tenant) -> None:  # type: ignore[no-untyped-def]
    gone = owing("750.50", "Moved Away")
    open_one = owing("300.00", "Still Here")
    Client.objects.filter(pk=gone.pk).update(status=Client.Status.CLOSED)
    alice = as_("alice@alpha.test")
    page = alice.get("/dashboard/arrears/write-offs/").content.decode()
    assert gone.account_number in page and open_one.account_number not in page
    assert alice.post("/dashboard/arrears/write-offs/", {"client": gone.pk, "reason": ""}).status_code == 302
    assert client_balance(gone.pk) == D("750.50")  # no reason, nothing written off
    alice.post("/dashboard/arrears/write-offs/", {"client": gone.pk, "reason": "Untraceable since 2025"})
    entry = LedgerEntry.objects.get(client=gone, kind="write_off")
    assert (entry.amount, entry.description) == (D("-750.50"), "Untraceable since 2025")
    assert client_balance(gone.pk) == D("0.00")
    assert AuditEvent.objects.filter(action="bad_debt.written_off").exists()
    alice.post("/dashboard/arrears/write-offs/", {"client": open_one.pk, "reason": "Try"})
    assert client_balance(open_one.pk) == D("300.00")  # not closed: refused
    for who in ("amos@alpha.test", "anne@alpha.test"):
        assert as_(who).get("/dashboard/arrears/write-offs/").status_code == 403


def test_another_providers_plan_is_404(tenant, alpha, beta) -> None:  # type: ignore[no-untyped-def]
    plan = services.plan_create(client=owing("900.00"), instalments=3, first_due=date(2026, 12, 1), actor="test")
    with tenant_context(beta):
        bob = as_("bob@beta.test", "beta")
        assert bob.get(f"/dashboard/arrears/plans/{plan.pk}/").status_code == 404
        assert plan.client.account_number not in bob.get("/dashboard/arrears/plans/").content.decode()


def test_the_disconnection_list_links_its_work_orders_for_those_who_see_them(tenant) -> None:  # type: ignore[no-untyped-def]
    (late,) = lates("Ordered Late")
    item = services.disconnection_start(client=late, actor="test")
    services.disconnections_due(today=item.notice_date)
    order = Disconnection.objects.get(pk=item.pk).disconnect_order
    link = f'href="/dashboard/work-orders/{order.pk}/"'
    listed = as_("amos@alpha.test").get("/dashboard/arrears/disconnections/").content.decode()
    assert link in listed and order.reference in listed and 'class="badge badge-warn">Work order open<' in listed
    # An accountant sees the list, not the field's orders: the reference, no link to a 403.
    seen = as_("anne@alpha.test").get("/dashboard/arrears/disconnections/").content.decode()
    assert order.reference in seen and link not in seen


def test_a_plan_is_made_from_the_account_number(tenant) -> None:  # type: ignore[no-untyped-def]
    from arrears.views.dashboard import MSG_NO_ACCOUNT

    client = owing("6000.00")
    anne = as_("anne@alpha.test")
    assert 'name="account"' in anne.get("/dashboard/arrears/plans/new/").content.decode()
    unknown = anne.post("/dashboard/arrears/plans/new/", {"account": "NOPE-1", "instalments": "3",
                                                          "first_due": "2026-12-01"})
    assert unknown.status_code == 400 and MSG_NO_ACCOUNT in unknown.content.decode()
    assert MSG_NO_ACCOUNT in anne.post("/dashboard/arrears/plans/new/", {"instalments": "3"}).content.decode()
    made = anne.post("/dashboard/arrears/plans/new/", {"account": f" {client.account_number.lower()} ",
                                                       "instalments": "3", "first_due": "2026-12-01"})
    assert made.status_code == 302 and PaymentPlan.objects.get(client=client).total == D("6000.00")
