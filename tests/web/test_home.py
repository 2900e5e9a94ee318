"""The dashboard home by role, with figures computed by hand; the client list's balance column and
the client page's balance; the portal's bill states and its Pay button.

The story (alpha, domestic tariff: up to 10 m³ @ 40, up to 30 @ 55, fixed charge 100):
- Ann (zone North): September 10 m³ = 500.00, October 18 m³ = 940.00.
- Ben (no zone):    September  5 m³ = 300.00, October 10 m³ = 500.00.
September is billed on 2 Oct (due 16 Oct), October on 2 Nov (due 16 Nov). Payments:
- Ann 500.00 on 10 Oct (settles her September bill),
- Ben 100.00 on 31 Oct 23:30 Nairobi (20:30 UTC: still October in Nairobi; part of September's),
- 250.00 on 20 Oct that matched no account (waits in reconciliation),
- Ann 400.00 on 1 Nov 00:30 Nairobi (31 Oct 21:30 UTC: November in Nairobi; part of October's).
Seen on 10 Nov 2026:
- latest billing period October 2026: billed 940 + 500 = 1,440.00; collected in October
  500 + 100 + 250 = 850.00; efficiency 850 / 1440 = 0.5903 → 59.0%; November so far 400.00;
- owed: Ann 1,440 − 900 = 540.00, Ben 800 − 100 = 700.00, total 1,240.00; past due (by the oldest
  unpaid bill, shared/API.md's aging): Ann's oldest unpaid bill is October's (her 540 sits on it,
  due 16 Nov): not yet due; Ben's is September's (due 16 Oct, 25 days before): his whole 700.00
  is 1-30 days past due;
- unmatched: 1 payment, 250.00;
- readings this month: none but Ann's (by Ari, the meter reader, on 9 Nov): 1 of 2 to read.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client as Http
from django_tenants.utils import tenant_context

from billing.models import Invoice
from billing.runs import billing_run_finalize, billing_run_start
from billing.selectors import client_balance
from clients.models import Client, Zone
from meters.selectors import reading_round
from meters.services import readings_record
from payments.models import Payment
from payments.selectors import onboarding_checklist
from payments.services import payment_record
from reports.figures import aging, billed_vs_collected, figures_fresh, money_at_a_glance
from tests.billing_helpers import metered, read, travel
from tests.conftest import host_of, login

NBO = ZoneInfo("Africa/Nairobi")
D = Decimal
TODAY = "2026-11-10"


def as_(email: str, slug: str = "alpha") -> Http:
    http = Http(HTTP_HOST=host_of(slug))
    assert login(http, email).status_code == 302
    return http


def main(html: str) -> str:
    """The page's own content (the sidebar is the shell's, tested with it)."""
    return html[html.index("<h1>Welcome"):]


def paid(client: Client | None, amount: str, when: datetime, receipt: str) -> Payment:
    return payment_record(method="mpesa", receipt=receipt, amount=D(amount), paid_at=when, client=client,
                          account_reference=client.account_number if client else "NOSUCH").payment


@pytest.fixture
def story(tenant):  # type: ignore[no-untyped-def]
    from accounts.models import User

    north = Zone.objects.create(code="north", name="North")
    ann, ann_meter = metered("Ann Atieno")
    ben, ben_meter = metered("Ben Barasa")
    ann.zone = north
    ann.save(update_fields=["zone"])
    for meter, values in ((ann_meter, ("0", "10", "28")), (ben_meter, ("0", "5", "15"))):
        for value, day in zip(values, ("2026-08-31", "2026-09-30", "2026-10-31"), strict=True):
            read(meter, value, day)
    for period, day in (("2026-09", "2026-10-02"), ("2026-10", "2026-11-02")):
        with travel(day):
            billing_run_finalize(run=billing_run_start(period=period)[0])
    with travel(TODAY):
        paid(ann, "500.00", datetime(2026, 10, 10, 12, 0, tzinfo=NBO), "ANN0001")
        paid(ben, "100.00", datetime(2026, 10, 31, 23, 30, tzinfo=NBO), "BEN0001")
        paid(None, "250.00", datetime(2026, 10, 20, 9, 0, tzinfo=NBO), "LOST0001")
        paid(ann, "400.00", datetime(2026, 11, 1, 0, 30, tzinfo=NBO), "ANN0002")
        ari = User.objects.get(email="ari@alpha.test")
        assert readings_record([{"meter": ann_meter.serial, "value": "31", "read_at": datetime(2026, 11, 9, 8, tzinfo=NBO)}],
                               source="manual", user=ari).errors == []
        ben.user = User.objects.get(email="carol@alpha.test")
        ben.save(update_fields=["user"])
        yield {"ann": ann, "ben": ben}


def test_the_selectors_give_the_hand_computed_figures(story) -> None:  # type: ignore[no-untyped-def]
    money = money_at_a_glance()
    assert money.summary.period == "2026-10" and money.summary.label == "October 2026"
    assert (money.summary.billed, money.summary.collected) == (D("1440.00"), D("850.00"))
    assert money.summary.efficiency == D("0.5903") and money.summary.efficiency_percent == D("59.0")
    assert (money.this_month.period, money.this_month.collected, money.this_month.billed) == ("2026-11", D("400.00"), D("0.00"))
    assert (money.aging.total, money.aging.past_due, money.aging.clients) == (D("1240.00"), D("700.00"), 2)
    assert [(b.name, b.clients, b.amount) for b in money.aging.buckets] == [
        ("current", 1, D("540.00")), ("1-30", 1, D("700.00")), ("31-60", 0, D("0.00")), ("61-90", 0, D("0.00")),
        ("90+", 0, D("0.00"))]
    assert (money.unmatched.count, money.unmatched.amount) == (1, D("250.00"))
    months = {m.period: m for m in money.months}
    assert len(money.months) == 12 and money.months[0].period == "2025-12" and money.months[-1].period == "2026-11"
    assert (months["2026-09"].billed, months["2026-09"].collected) == (D("800.00"), D("0.00"))
    assert months["2026-09"].efficiency is None or months["2026-09"].efficiency == D("0.0000")
    # The owed total is the ledger's balances, as statements show them.
    assert money.aging.total == client_balance(story["ann"].pk) + client_balance(story["ben"].pk)
    # A week later October's bills are past due too: Ann's 540 (4 days), Ben's 700 (35 days).
    later = aging(today=date(2026, 11, 20))
    assert (later["1-30"].amount, later["31-60"].amount, later.past_due) == (D("540.00"), D("700.00"), D("1240.00"))
    round_ = reading_round()
    assert (round_.meters, round_.read, round_.remaining) == (2, 1, 1)
    assert [(z.code, z.meters, z.read) for z in round_.zones] == [("north", 1, 1), ("", 1, 0)]


def test_a_reversed_or_refunded_payment_is_not_collected(story) -> None:  # type: ignore[no-untyped-def]
    from payments.services import payment_mark_refunded, payment_reverse

    late = paid(story["ben"], "60.00", datetime(2026, 11, 3, 10, tzinfo=NBO), "BEN0002")
    assert figures_fresh().stale is False  # the payment marked the figures out of date; a small provider's refresh at once
    assert billed_vs_collected(1)[-1].collected == D("460.00")
    payment_reverse(payment=late, reason="typed twice", actor="test")
    payment_mark_refunded(payment=Payment.objects.get(receipt="LOST0001"), reason="M-Pesa reversal R1", actor="test")
    figures_fresh()
    months = {m.period: m.collected for m in billed_vs_collected(3)}
    assert months["2026-11"] == D("400.00") and months["2026-10"] == D("600.00")


@pytest.mark.parametrize("persona", ["alice@alpha.test", "amos@alpha.test", "anne@alpha.test"])
def test_owner_manager_and_accountant_see_the_money(story, persona: str) -> None:  # type: ignore[no-untyped-def]
    html = as_(persona).get("/dashboard/").content.decode()
    assert 'data-testid="money-period">October 2026<' in html
    for testid, text in (("kpi-billed", "KES 1,440.00"), ("kpi-collected", "KES 850.00"), ("kpi-efficiency", "59.0%"),
                         ("kpi-owed", "KES 1,240.00"), ("kpi-overdue", "KES 700.00 past due"), ("kpi-unmatched", "1"),
                         ("kpi-unmatched-amount", "KES 250.00"), ("kpi-this-month", "Nov 2026 so far: KES 400.00"),
                         ("kpi-to-read", "1")):
        assert f'data-testid="{testid}">{text}<' in html, testid
    assert 'href="/dashboard/payments/?status=unmatched"' in html
    # The chart (server-side SVG, months named) and the same figures in a table.
    assert 'data-testid="money-chart"' in html and "<tspan>Oct </tspan>" in html and ">2026</tspan>" in html
    assert '<td>Oct 2026</td><td class="num">KES 1,440.00</td><td class="num">KES 850.00</td>' \
           '<td class="num hide-sm">59.0%</td>' in html
    assert '<td>Dec 2025</td>' in html and "Jan 2026" in html


def test_the_meter_reader_sees_the_round_and_no_money(story) -> None:  # type: ignore[no-untyped-def]
    response = as_("ari@alpha.test").get("/dashboard/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="money"' not in html and "KES" not in html and "Collected" not in html
    assert 'data-testid="round-mine">1<' in html and 'data-testid="round-left">1<' in html
    assert 'href="/dashboard/readings/?zone=north"' in html and "No zone" in html
    assert 'href="/dashboard/readings/?zone=%2Anone"' in html  # the meters of no zone have their sheet too
    # Nothing they cannot open: no checklist, no review queue, no billing or payments links.
    for path in ("/dashboard/readings/review/", "/dashboard/billing/", "/dashboard/payments/", "/dashboard/settings/#api"):
        assert f'href="{path}' not in main(html)
    assert 'data-testid="checklist"' not in html


def test_the_accountant_has_no_link_they_cannot_open(story) -> None:  # type: ignore[no-untyped-def]
    html = main(as_("anne@alpha.test").get("/dashboard/").content.decode())
    assert 'data-testid="round"' not in html and 'data-testid="checklist"' not in html
    assert 'href="/dashboard/readings/' not in html and 'href="/dashboard/clients/settings/"' not in html


def test_every_link_on_home_opens_for_its_viewer(story) -> None:  # type: ignore[no-untyped-def]
    import re

    for persona in ("alice@alpha.test", "amos@alpha.test", "anne@alpha.test", "ari@alpha.test"):
        http = as_(persona)
        html = http.get("/dashboard/").content.decode()
        for href in set(re.findall(r'href="(/dashboard/[^"#]*)', main(html))):
            assert http.get(href.replace("&amp;", "&")).status_code == 200, (persona, href)


def test_beta_never_sees_alphas_money(story, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(beta):
        paid(None, "7777.00", datetime(2026, 10, 5, 9, tzinfo=NBO), "BETA0001")
    with tenant_context(beta):
        beta_money = money_at_a_glance()
    assert (beta_money.unmatched.count, beta_money.aging.total, beta_money.summary.billed) == (1, D("0.00"), D("0.00"))
    connection.set_schema_to_public()
    bob = as_("bob@beta.test", "beta").get("/dashboard/").content.decode()
    assert "KES 7,777.00" in bob and "1,440.00" not in bob and "850.00" not in bob and "1,240.00" not in bob
    alice = as_("alice@alpha.test").get("/dashboard/").content.decode()
    assert "7,777" not in alice and 'data-testid="kpi-unmatched">1<' in alice


@pytest.mark.parametrize(("persona", "queries"), [("alice@alpha.test", 22), ("amos@alpha.test", 21),
                                                  ("anne@alpha.test", 16), ("ari@alpha.test", 12)])
def test_the_home_page_has_a_pinned_query_count(story, persona: str, queries: int,  # type: ignore[no-untyped-def]
                                                django_assert_num_queries) -> None:
    http = as_(persona)
    http.get("/dashboard/")  # warm: the settings rows, the session
    with django_assert_num_queries(queries):
        assert http.get("/dashboard/").status_code == 200


# --- onboarding checklist ------------------------------------------------------------------------
def _steps(html: str) -> dict[str, str]:
    import re

    return dict(re.findall(r'data-testid="step-(\w+)" data-done="(yes|no)"', html))


def test_a_new_providers_checklist_ticks_as_it_is_set_up(alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        assert not onboarding_checklist().complete
    connection.set_schema_to_public()
    alice = as_("alice@alpha.test")
    html = alice.get("/dashboard/").content.decode()
    steps = _steps(html)
    assert steps == {"zones": "no", "tariff": "no", "clients": "no", "sms": "no", "mpesa": "no", "billing": "no",
                     "staff": "yes"}  # alpha has five staff logins
    for key, href in (("zones", "/dashboard/clients/settings/"), ("tariff", "/dashboard/billing/tariffs/new/"),
                      ("clients", "/dashboard/clients/import/"), ("sms", "/dashboard/messages/settings/"),
                      ("mpesa", "/dashboard/payments/settings/"), ("billing", "/dashboard/billing/")):
        assert f'href="{href}" data-testid="step-{key}-link"' in html
        assert alice.get(href).status_code == 200
    # The manager is shown the owner's steps without a link they could not open.
    amos = as_("amos@alpha.test").get("/dashboard/").content.decode()
    assert 'data-testid="step-sms-link"' not in amos and 'data-testid="step-mpesa-link"' not in amos
    assert 'data-testid="step-zones-link"' in amos and "(the owner does this)" in amos


def test_the_checklist_is_gone_once_everything_is_done(story, alpha) -> None:  # type: ignore[no-untyped-def]
    from notifications.models import NotificationSettings
    from tests.payments_helpers import mpesa_ready

    html = as_("alice@alpha.test").get("/dashboard/").content.decode()
    assert _steps(html) == {"zones": "yes", "tariff": "yes", "clients": "yes", "sms": "no", "mpesa": "no",
                            "billing": "yes", "staff": "yes"}
    assert 'data-testid="checklist-progress">5 of 7 done<' in html
    with tenant_context(alpha):
        mpesa_ready()
        cfg = NotificationSettings.load()
        cfg.at_username, cfg.at_api_key = "sandbox", "atsk_test"
        cfg.save()
        assert onboarding_checklist().complete
    connection.set_schema_to_public()
    assert 'data-testid="checklist"' not in as_("alice@alpha.test").get("/dashboard/").content.decode()


# --- the client list's balance column and the client page --------------------------------------
def test_the_client_list_shows_each_balance(story) -> None:  # type: ignore[no-untyped-def]
    html = as_("anne@alpha.test").get("/dashboard/clients/").content.decode()
    ann, ben = story["ann"], story["ben"]
    assert f'data-testid="balance-{ann.pk}">KES 540.00<' in html and f'data-testid="balance-{ben.pk}">KES 700.00<' in html
    # Meter readers walk routes: no money in their list.
    assert "KES" not in as_("ari@alpha.test").get("/dashboard/clients/").content.decode()


def test_the_client_list_has_a_pinned_query_count(story, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    http = as_("anne@alpha.test")
    http.get("/dashboard/clients/")
    with django_assert_num_queries(9):
        http.get("/dashboard/clients/")
    for i in range(5):
        metered(f"More {i}")
    with django_assert_num_queries(9):
        assert http.get("/dashboard/clients/").content.decode().count('data-testid="balance-') == 7


def test_the_client_page_shows_the_balance_and_what_is_overdue(story) -> None:  # type: ignore[no-untyped-def]
    anne = as_("anne@alpha.test")
    ben = anne.get(f"/dashboard/clients/{story['ben'].pk}/").content.decode()
    assert 'data-testid="client-balance">KES 700.00<' in ben and 'data-testid="client-overdue">KES 200.00 overdue<' in ben
    ann = anne.get(f"/dashboard/clients/{story['ann'].pk}/").content.decode()
    assert 'data-testid="client-balance">KES 540.00<' in ann and 'data-testid="client-overdue"' not in ann
    assert "client-balance" not in as_("ari@alpha.test").get(f"/dashboard/clients/{story['ben'].pk}/").content.decode()


# --- the portal ---------------------------------------------------------------------------------------
def _bill(client: Client, period: str) -> Invoice:
    return Invoice.objects.get(client=client, period=period)


def test_the_portal_shows_the_latest_bill_and_each_bills_state(story) -> None:  # type: ignore[no-untyped-def]
    ben, ann = story["ben"], story["ann"]
    ben_october, ben_september = _bill(ben, "2026-10").pk, _bill(ben, "2026-09").pk
    carol = as_("carol@alpha.test")  # Ben's login
    home = carol.get("/portal/").content.decode()
    assert 'data-testid="latest-state">Due 16 Nov 2026<' in home
    october = carol.get(f"/portal/bills/{ben_october}/").content.decode()
    assert 'data-testid="bill-state">Due 16 Nov 2026<' in october and 'data-testid="bill-pay"' in october
    september = carol.get(f"/portal/bills/{ben_september}/").content.decode()
    assert 'data-testid="bill-state">Overdue since 16 Oct 2026 (KES 100.00 of KES 300.00 paid)<' in september
    assert 'href="/portal/pay/" data-testid="bill-pay"' in september
    # Ann's bills, seen through her own login.
    from accounts.models import User

    ann.user = User.objects.create_user("ann@example.com", "correct-horse-42", full_name="Ann Atieno", role="client")
    ann.save(update_fields=["user"])
    sept_pk = _bill(ann, "2026-09").pk
    connection.set_schema_to_public()
    her = as_("ann@example.com")
    assert 'data-testid="latest-state">Partly paid (KES 400.00 of KES 940.00) · due 16 Nov 2026<' in her.get("/portal/").content.decode()
    settled = her.get(f"/portal/bills/{sept_pk}/").content.decode()
    assert 'data-testid="bill-state">Paid<' in settled and 'data-testid="bill-pay"' not in settled
    # Once October is overdue (17 Nov on), the home says so.
    with travel("2026-11-17"):
        assert 'data-testid="latest-state">Overdue since 16 Nov 2026 (KES 400.00 of KES 940.00 paid)<' in \
            her.get("/portal/").content.decode()


def test_a_client_never_sees_another_clients_bill(story) -> None:  # type: ignore[no-untyped-def]
    ann_bill = _bill(story["ann"], "2026-10").pk
    connection.set_schema_to_public()
    assert as_("carol@alpha.test").get(f"/portal/bills/{ann_bill}/").status_code == 404


def test_another_provider_sees_neither_the_balances_nor_the_client_page(story) -> None:  # type: ignore[no-untyped-def]
    ben = story["ben"].pk
    connection.set_schema_to_public()
    bob = as_("bob@beta.test", "beta")
    assert bob.get(f"/dashboard/clients/{ben}/").status_code == 404
    assert "KES 700.00" not in bob.get("/dashboard/clients/").content.decode()


def test_a_provider_with_nothing_billed_says_so(alpha) -> None:  # type: ignore[no-untyped-def]
    html = as_("anne@alpha.test").get("/dashboard/").content.decode()
    assert 'data-testid="kpi-efficiency">—<' in html and "nothing billed" in html
    assert 'data-testid="kpi-billed">KES 0.00<' in html and 'data-testid="money-chart"' not in html
    assert "Nothing billed or collected in the last 12 months yet." in html


def test_the_staff_step_ticks_with_an_invitation_and_links_to_the_team(alpha) -> None:  # type: ignore[no-untyped-def]
    from accounts.models import STAFF_ROLES, User
    from accounts.staff import staff_invite, staff_invite_revoke

    with tenant_context(alpha):
        alice = User.objects.get(email="alice@alpha.test")
        User.objects.filter(role__in=STAFF_ROLES).exclude(pk=alice.pk).update(is_active=False)
        assert not {s.key: s.done for s in onboarding_checklist().steps}["staff"]
    connection.set_schema_to_public()
    html = as_("alice@alpha.test").get("/dashboard/").content.decode()
    assert _steps(html)["staff"] == "no"
    assert 'href="/dashboard/settings/team/" data-testid="step-staff-link"' in html
    with tenant_context(alpha):
        invite, _sent = staff_invite(actor=alice, email="reader@alpha.test", role="meter_reader")
        assert {s.key: s.done for s in onboarding_checklist().steps}["staff"]
        staff_invite_revoke(actor=alice, invite=invite)
        assert not {s.key: s.done for s in onboarding_checklist().steps}["staff"]


def test_field_work_and_service_requests_on_the_home_page_by_role(story) -> None:  # type: ignore[no-untyped-def]
    ari = as_("ari@alpha.test").get("/dashboard/").content.decode()  # the field officer: orders, no queue
    assert 'data-testid="home-orders">0<' in ari and "home-requests-overdue" not in ari
    anne = as_("anne@alpha.test").get("/dashboard/").content.decode()  # the accountant answers requests
    assert 'data-testid="home-requests-overdue">0<' in anne and "home-orders" not in anne
    amos = as_("amos@alpha.test").get("/dashboard/").content.decode()
    assert "home-orders" in amos and "home-requests-open" in amos
