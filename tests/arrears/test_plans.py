"""Payment plans (shared/API.md `/payment-plans/`): the client's balance in N monthly
instalments equal to the cent with the remainder on the last, payments counted oldest first, a
missed instalment past grace breaks the plan, a fully paid one completes. Figures by hand."""

from __future__ import annotations

from datetime import date

import pytest
from django_tenants.utils import tenant_context

from arrears import services
from arrears.models import ArrearsSettings, Instalment, PaymentPlan
from arrears.services import plans_break_missed, split
from notifications.models import Message
from tests.arrears.helpers import owing, pay
from tests.billing_helpers import D, travel
from tests.notifications_helpers import sms_ready

PLANS = "/api/v1/payment-plans/"


def rows(plan: PaymentPlan) -> list[tuple[int, date, D, D, str]]:
    return [(i.number, i.due_date, i.amount, i.paid, i.status) for i in plan.instalments.order_by("number")]


def test_split_is_equal_to_the_cent_the_last_taking_the_remainder() -> None:
    assert split(D("10000.00"), 3) == [D("3333.33"), D("3333.33"), D("3333.34")]
    assert split(D("1440.00"), 7) == [D("205.71")] * 6 + [D("205.74")]  # 205.71 x 6 = 1234.26; 1440 - 1234.26
    assert split(D("100.01"), 2) == [D("50.00"), D("50.01")]


def test_a_plan_is_made_for_the_balance_monthly_from_the_first_due_date(tenant, alpha_api) -> None:  # type: ignore[no-untyped-def]
    client = owing("10000.00")
    response = alpha_api.post(PLANS, {"client": client.pk, "instalments": 3, "first_due": "2027-01-31"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["client"], body["total"], body["status"], body["paid"]) == (client.pk, "10000.00", "active", "0.00")
    assert [(i["due_date"], i["amount"], i["paid"], i["status"]) for i in body["instalments"]] == [
        ("2027-01-31", "3333.33", "0.00", "due"),
        ("2027-02-28", "3333.33", "0.00", "due"),  # no 31 February: the month's last day
        ("2027-03-31", "3333.34", "0.00", "due")]
    assert alpha_api.get(f"{PLANS}{body['id']}/").json() == body


def test_a_down_payment_comes_first_and_the_rest_is_split(tenant) -> None:  # type: ignore[no-untyped-def]
    client = owing("10000.00")
    plan = services.plan_create(client=client, instalments=4, first_due=date(2026, 12, 15),
                                down_payment=D("1000.00"), actor="test")
    # 9,000.00 / 4 = 2,250.00 each; the down payment due today.
    assert rows(plan) == [(0, date(2026, 11, 23), D("1000.00"), D("0"), "due"),
                          (1, date(2026, 12, 15), D("2250.00"), D("0"), "due"),
                          (2, date(2027, 1, 15), D("2250.00"), D("0"), "due"),
                          (3, date(2027, 2, 15), D("2250.00"), D("0"), "due"),
                          (4, date(2027, 3, 15), D("2250.00"), D("0"), "due")]


def test_payments_after_the_plan_count_towards_the_oldest_instalments_first(tenant,  # type: ignore[no-untyped-def]
                                                                            django_capture_on_commit_callbacks) -> None:
    client = owing("10000.00")
    pay(client, "400.00")  # before the plan: already in the balance (9,600.00), not counted
    plan = services.plan_create(client=client, instalments=3, first_due=date(2026, 12, 1), actor="test")
    assert plan.total == D("9600.00")
    with django_capture_on_commit_callbacks(execute=True):
        pay(client, "3000.00")
    with django_capture_on_commit_callbacks(execute=True):
        pay(client, "2000.00")
    plan.refresh_from_db()
    # 5,000.00 paid: 3,200.00 (first), 1,800.00 of 3,200.00 (second), nothing on the third.
    assert plan.paid == D("5000.00")
    assert [(n, a, p, s) for n, _d, a, p, s in rows(plan)] == [
        (1, D("3200.00"), D("3200.00"), "paid"), (2, D("3200.00"), D("1800.00"), "due"),
        (3, D("3200.00"), D("0.00"), "due")]
    assert plan.status == "active"
    with django_capture_on_commit_callbacks(execute=True):
        pay(client, "4600.00")
    plan.refresh_from_db()
    assert plan.status == "completed" and plan.paid == D("9600.00")
    assert {s for *_x, s in rows(plan)} == {"paid"}


def test_an_instalment_unpaid_past_the_grace_days_breaks_the_plan(tenant, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    cfg = ArrearsSettings.load()
    cfg.plan_grace_days = 5
    cfg.save()
    client = owing("3000.00")
    plan = services.plan_create(client=client, instalments=3, first_due=date(2026, 12, 1), actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        pay(client, "999.99")  # one cent short of the first 1,000.00
    with travel("2026-12-06"):  # the fifth day of grace: still in good standing
        assert plans_break_missed() == 0
    with travel("2026-12-07"):
        assert plans_break_missed() == 1
        assert plans_break_missed() == 0  # once
    plan.refresh_from_db()
    assert plan.status == "broken"
    assert rows(plan)[0][3:] == (D("999.99"), "missed")
    sms = Message.objects.get(event="plan_broken", client_id=client.pk)
    assert "KES 0.01 due 1 Dec 2026" in sms.text and "KES 2,000.01" in sms.text


def test_a_paid_instalment_is_not_missed(tenant, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    client = owing("3000.00")
    plan = services.plan_create(client=client, instalments=3, first_due=date(2026, 12, 1), actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        pay(client, "1000.00")
    with travel("2026-12-20"):
        assert plans_break_missed() == 0
    plan.refresh_from_db()
    assert plan.status == "active"


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"instalments": 1, "first_due": "2026-12-01"}, "instalments", services.MSG_INSTALMENTS),
    ({"instalments": 61, "first_due": "2026-12-01"}, "instalments", services.MSG_INSTALMENTS),
    ({"instalments": 3, "first_due": "2026-11-22"}, "first_due", services.MSG_FIRST_DUE_PAST),
    ({"instalments": 3, "first_due": "1 Dec"}, "first_due", services.MSG_FIRST_DUE),
    ({"instalments": 3, "first_due": "2026-12-01", "down_payment": "5000.00"}, "down_payment",
     services.MSG_DOWN_PAYMENT),
    ({"instalments": 3, "first_due": "2026-12-01", "down_payment": "-1"}, "down_payment", services.MSG_DOWN_PAYMENT),
])
def test_bad_plans_are_400_naming_the_field(tenant, alpha_api, body, field, message) -> None:  # type: ignore[no-untyped-def]
    client = owing("5000.00")
    response = alpha_api.post(PLANS, {"client": client.pk, **body}, format="json")
    assert response.status_code == 400
    assert message in response.json()[field]
    assert not PaymentPlan.objects.exists()


def test_a_plan_for_a_client_who_owes_nothing_or_is_on_a_plan_is_refused(tenant, alpha_api) -> None:  # type: ignore[no-untyped-def]
    client = owing("1000.00")
    body = {"client": client.pk, "instalments": 2, "first_due": "2026-12-01"}
    assert alpha_api.post(PLANS, body, format="json").status_code == 201
    again = alpha_api.post(PLANS, body, format="json")
    assert again.status_code == 400 and again.json() == {"client": [services.MSG_ON_PLAN]}
    settled = owing("0.01")
    pay(settled, "0.01")
    nothing = alpha_api.post(PLANS, {**body, "client": settled.pk}, format="json")
    assert nothing.status_code == 400 and nothing.json() == {"client": [services.MSG_OWES_NOTHING]}
    unknown = alpha_api.post(PLANS, {**body, "client": 999999}, format="json")
    assert unknown.status_code == 400 and unknown.json() == {"client": [services.MSG_CLIENT]}


def test_plans_of_another_provider_are_404_and_its_clients_unknown(tenant, alpha, beta, beta_api) -> None:  # type: ignore[no-untyped-def]
    client = owing("1000.00")
    plan = services.plan_create(client=client, instalments=2, first_due=date(2026, 12, 1), actor="test")
    assert beta_api.get(f"{PLANS}{plan.pk}/").status_code == 404
    with tenant_context(beta):
        assert beta_api.get(PLANS).json()["count"] == 0
        made = beta_api.post(PLANS, {"client": client.pk, "instalments": 2, "first_due": "2026-12-01"}, format="json")
    assert made.status_code == 400 and made.json() == {"client": [services.MSG_CLIENT]}


def test_the_plan_list_is_a_fixed_number_of_queries(tenant, alpha_api, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    for i in range(4):
        services.plan_create(client=owing("1000.00", f"Listed {i}"), instalments=2, first_due=date(2026, 12, 1),
                             actor="test")
    with django_assert_max_num_queries(12):
        response = alpha_api.get(PLANS)
    assert response.json()["count"] == 4
    assert all(len(p["instalments"]) == 2 for p in response.json()["results"])


def test_a_requested_plan_is_approved_or_declined_with_a_reason(tenant, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    client = owing("2000.00")
    asked = services.plan_request(client=client, instalments=4, first_due=date(2026, 12, 10), note="Salary on 10th",
                                  actor="test")
    assert asked.status == "requested" and asked.instalments.count() == 4
    with pytest.raises(services.ValidationError):
        services.plan_decline(plan=asked, reason="", actor="test")
    services.plan_decline(plan=asked, reason="Please pay the October bill first.", actor="test")
    asked.refresh_from_db()
    assert asked.status == "declined"
    assert "Please pay the October bill first." in Message.objects.get(event="plan_declined").text
    again = services.plan_request(client=client, instalments=2, first_due=date(2026, 12, 10), actor="test")
    pay(client, "500.00")
    plan = services.plan_approve(plan=again, actor="test")
    assert (plan.status, plan.total) == ("active", D("1500.00"))  # the balance when approved
    assert [i.amount for i in plan.instalments.order_by("number")] == [D("750.00"), D("750.00")]
    assert Message.objects.filter(event="plan_active", client_id=client.pk).exists()
    assert Instalment.objects.filter(plan=plan).count() == 2
