"""The disconnection rule, its candidates, the notice, the work order on the date (once), the
cancellation by a payment or a plan, and reconnection ordered by the payment that completes
what the rule requires. Figures by hand (billed_twice: September 500.00 due 16 Oct, October
940.00 due 16 Nov; today 23 Nov 2026)."""

from __future__ import annotations

import json
from datetime import date

from django.test import Client as Http
from django_tenants.utils import tenant_context

from arrears import services
from arrears.models import ArrearsSettings, Disconnection
from arrears.selectors import candidates
from billing.models import LedgerEntry
from billing.selectors import client_balance
from clients.models import Client
from fieldwork.models import WorkOrder
from notifications.models import Message
from tests.arrears.helpers import finish, pay, reconnection_fee
from tests.billing_helpers import D, metered, read, travel
from tests.conftest import host_of, login
from tests.notifications_helpers import sms_ready
from tests.payments.test_payments import confirmation, post, urls

CANDIDATES = "/api/v1/disconnections/candidates/"
START = "/api/v1/disconnections/"


def lates(*names: str) -> list[Client]:
    """Clients billed as billed_twice's (September 500.00 due 16 Oct, October 940.00 due 16 Nov),
    in the same two runs."""
    from billing.runs import billing_run_finalize, billing_run_start

    made = []
    for name in names:
        client, meter = metered(name)
        client.phone = "+254711000222"
        client.save(update_fields=["phone"])
        read(meter, "0", "2026-08-31")
        read(meter, "10", "2026-09-30")
        read(meter, "28", "2026-10-31")
        made.append(client)
    for period, day in (("2026-09", "2026-10-02"), ("2026-10", "2026-11-02")):
        with travel(day):
            billing_run_finalize(run=billing_run_start(period=period)[0])
    for client in made:
        assert client_balance(client.pk) == D("1440.00")
    return made


def late(name: str = "Late Payer") -> Client:
    return lates(name)[0]


def test_the_rule_puts_up_who_owes_more_than_its_amount_for_more_than_its_days(tenant, alpha_api) -> None:  # type: ignore[no-untyped-def]
    owes, exempt, partly = lates("Owes Long", "Hospital", "Paid September")
    Client.objects.filter(pk=exempt.pk).update(disconnection_exempt=True)
    pay(partly, "500.00")  # September settled: the oldest unpaid is October's, due 16 Nov (7 days)
    response = alpha_api.get(CANDIDATES)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["results"] == [{"client": owes.pk, "account_number": owes.account_number, "balance": "1440.00",
                                "oldest_due": "2026-10-16", "days_overdue": 38, "last_payment": None}]
    cfg = ArrearsSettings.load()
    cfg.disconnect_after_days, cfg.disconnect_above = 5, D("940.00")
    cfg.save()
    # 5 days: October's bill (7 days overdue) counts; above 940.00: "Paid September" owes 940.00 exactly.
    assert [c.pk for c in candidates()] == [owes.pk]
    cfg.disconnect_above = D("939.99")
    cfg.save()
    found = {c.pk: c for c in candidates()}
    assert set(found) == {owes.pk, partly.pk}
    assert (found[partly.pk].balance, found[partly.pk].oldest_due) == (D("940.00"), date(2026, 11, 16))
    assert found[partly.pk].last_payment is not None


def test_a_plan_in_good_standing_keeps_a_client_off_the_list(tenant) -> None:  # type: ignore[no-untyped-def]
    client = late()
    assert [c.pk for c in candidates()] == [client.pk]
    plan = services.plan_create(client=client, instalments=2, first_due=date(2026, 12, 1), actor="test")
    assert list(candidates()) == []
    with travel("2026-12-20"):  # the first instalment missed past grace: the plan breaks, the client is back
        services.plans_break_missed()
        plan.refresh_from_db()
        assert plan.status == "broken"
        assert [c.pk for c in candidates()] == [client.pk]


def test_a_kiswahili_client_reads_the_notice_date_in_kiswahili(tenant, alpha_api) -> None:  # type: ignore[no-untyped-def]
    """The notice (template and date) is written in the client's language: ten notice days from
    23 Nov 2026 is 3 Dec 2026, "3 Dis 2026" in Kiswahili (Django's month abbreviations)."""
    sms_ready()
    cfg = ArrearsSettings.load()
    cfg.notice_days = 10
    cfg.save()
    client = late()
    Client.objects.filter(pk=client.pk).update(language="sw")
    assert alpha_api.post(START, {"client": client.pk}, format="json").status_code == 201
    sms = Message.objects.get(event="disconnection_scheduled", client_id=client.pk, channel="sms")
    assert "3 Dis 2026" in sms.text and "Dec" not in sms.text


def test_starting_a_disconnection_sends_the_notice_with_the_date_and_the_pay_link(tenant, alpha_api) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    client = late()
    response = alpha_api.post(START, {"client": client.pk}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["client"], body["status"], body["notice_date"], body["balance"]) == (
        client.pk, "notice", "2026-11-30", "1440.00")  # 7 notice days
    sms = Message.objects.get(event="disconnection_scheduled", client_id=client.pk, channel="sms")
    assert "KES 1,440.00" in sms.text and "30 Nov 2026" in sms.text and "/pay/" in sms.text
    assert alpha_api.get(CANDIDATES).json()["count"] == 0  # under way: off the list
    again = alpha_api.post(START, {"client": client.pk}, format="json")
    assert again.status_code == 400 and again.json() == {"client": [services.MSG_UNDER_WAY]}


def test_who_the_rule_does_not_put_up_cannot_be_disconnected(tenant, alpha_api) -> None:  # type: ignore[no-untyped-def]
    client, exempt = lates("Late Payer", "School")
    pay(client, "1000.00")  # owes 440.00: under the 500.00 of the rule
    response = alpha_api.post(START, {"client": client.pk}, format="json")
    assert response.status_code == 400 and response.json() == {"client": [services.MSG_NOT_UNDER_RULE]}
    Client.objects.filter(pk=exempt.pk).update(disconnection_exempt=True)
    assert alpha_api.post(START, {"client": exempt.pk}, format="json").json() == {"client": [services.MSG_EXEMPT]}
    for body in ({}, {"client": "x"}, {"client": 999999}, [], "text"):
        bad = alpha_api.post(START, body, format="json")
        assert bad.status_code == 400, body
    assert not Disconnection.objects.exists()


def test_meter_readers_and_accountants_cannot_start_one(tenant, alpha) -> None:  # type: ignore[no-untyped-def]
    client = late()
    for email, status in (("ari@alpha.test", 403), ("anne@alpha.test", 403), ("amos@alpha.test", 201)):
        http = Http(HTTP_HOST=host_of("alpha"))
        login(http, email)
        response = http.post(START, json.dumps({"client": client.pk}), content_type="application/json")
        assert response.status_code == status, (email, response.content)
    ari = Http(HTTP_HOST=host_of("alpha"))
    login(ari, "ari@alpha.test")
    assert ari.get(CANDIDATES).status_code == 403  # no money for meter readers


def test_a_payment_before_the_date_cancels_it_by_itself(tenant, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    client = late()
    item = services.disconnection_start(client=client, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        pay(client, "1000.00")  # 440.00 left: below the rule's 500.00
    item.refresh_from_db()
    assert item.status == "cancelled"
    with travel("2026-11-30"):
        assert services.disconnections_due() == 0
    assert not WorkOrder.objects.exists()


def test_a_plan_before_the_date_cancels_it(tenant) -> None:  # type: ignore[no-untyped-def]
    client = late()
    item = services.disconnection_start(client=client, actor="test")
    services.plan_create(client=client, instalments=3, first_due=date(2026, 12, 5), actor="test")
    item.refresh_from_db()
    assert item.status == "cancelled"


def test_the_work_order_is_opened_on_the_date_and_only_once(tenant) -> None:  # type: ignore[no-untyped-def]
    client = late()
    item = services.disconnection_start(client=client, actor="test")
    with travel("2026-11-29"):
        assert services.disconnections_due() == 0
    with travel("2026-11-30"):
        assert services.disconnections_due() == 1
        assert services.disconnections_due() == 0
    order = WorkOrder.objects.get()
    assert (order.kind, order.source, order.due_on, order.balance) == (
        "disconnect", f"disconnection:{item.pk}", date(2026, 11, 30), D("1440.00"))
    item.refresh_from_db()
    assert (item.status, item.disconnect_order_id) == ("ordered", order.pk)


def test_disconnected_then_reconnected_by_the_payment_that_completes_the_requirement(  # type: ignore[no-untyped-def]
        tenant, alpha, django_capture_on_commit_callbacks) -> None:
    from payments.models import Payment
    from tests.payments_helpers import mpesa_ready

    sms_ready()
    mpesa_ready()
    reconnection_fee("1000.00")
    client = late()
    item = services.disconnection_start(client=client, actor="test")
    with travel("2026-11-30"):
        services.disconnections_due()
    finish(WorkOrder.objects.get(source=f"disconnection:{item.pk}"))
    item.refresh_from_db()
    assert (item.status, item.fee) == ("disconnected", D("1000.00"))
    assert client_balance(client.pk) == D("2440.00")  # 1,440.00 arrears + 1,000.00 reconnection fee
    assert LedgerEntry.objects.filter(client=client, kind="fee", amount=D("1000.00")).exists()
    http = Http(HTTP_HOST=host_of("alpha"))
    # A real M-Pesa C2B confirmation, drained by the (eager) Celery task as the worker would.
    with django_capture_on_commit_callbacks(execute=True):
        post(http, urls(alpha)[1], confirmation(client.account_number, "1440.00", "RCN0000001"))
    with tenant_context(alpha):
        assert Payment.objects.filter(receipt="RCN0000001", client=client).exists()
        item.refresh_from_db()
        assert item.status == "disconnected"  # the fee is still owed
        assert not WorkOrder.objects.filter(kind="reconnect").exists()
    with django_capture_on_commit_callbacks(execute=True):
        post(http, urls(alpha)[1], confirmation(client.account_number, "1000.00", "RCN0000002"))
    with tenant_context(alpha):
        item.refresh_from_db()
        order = WorkOrder.objects.get(kind="reconnect")
        assert (item.status, item.reconnect_order_id, order.source) == (
            "reconnect_ordered", order.pk, f"reconnection:{item.pk}")
        assert Message.objects.filter(event="reconnection_ordered", client_id=client.pk).count() == 1
        finish(order)
        item.refresh_from_db()
        assert item.status == "reconnected"
        assert Client.objects.get(pk=client.pk).status == "active"


def test_on_a_plan_reconnection_asks_its_down_payment_and_the_fee(tenant, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    reconnection_fee("1000.00")
    client = late()
    item = services.disconnection_start(client=client, actor="test")
    with travel("2026-11-30"):
        services.disconnections_due()
        finish(WorkOrder.objects.get(source=f"disconnection:{item.pk}"))
        plan = services.plan_create(client=client, instalments=4, first_due=date(2026, 12, 30),
                                    down_payment=D("500.00"), actor="test")
        assert plan.total == D("2440.00")
        with django_capture_on_commit_callbacks(execute=True):
            pay(client, "1499.99")  # a cent short of 500.00 + 1,000.00
        item.refresh_from_db()
        assert item.status == "disconnected"
        with django_capture_on_commit_callbacks(execute=True):
            pay(client, "0.01")
        item.refresh_from_db()
        assert item.status == "reconnect_ordered"
        assert WorkOrder.objects.filter(kind="reconnect", source=f"reconnection:{item.pk}").count() == 1


def test_a_disconnection_not_done_is_recorded(tenant) -> None:  # type: ignore[no-untyped-def]
    client = late()
    item = services.disconnection_start(client=client, actor="test")
    with travel("2026-11-30"):
        services.disconnections_due()
    finish(WorkOrder.objects.get(), done=False)
    item.refresh_from_db()
    assert item.status == "not_done"


def test_other_providers_see_nothing(tenant, alpha, beta, beta_api) -> None:  # type: ignore[no-untyped-def]
    client = late()
    services.disconnection_start(client=client, actor="test")
    with tenant_context(beta):
        assert beta_api.get(CANDIDATES).json()["count"] == 0
        assert beta_api.get(START).json()["count"] == 0
        response = beta_api.post(START, {"client": client.pk}, format="json")
    assert response.status_code == 400 and response.json() == {"client": ["Choose a client of this provider."]}


def test_the_lists_are_a_fixed_number_of_queries(tenant, alpha_api, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    made = lates(*(f"Client {i}" for i in range(4)))
    pay(made[0], "10.00")
    with django_assert_max_num_queries(12):  # key, audit, settings (made once): then count and page
        assert alpha_api.get(CANDIDATES).json()["count"] == 4
    for client in made[:3]:
        services.disconnection_start(client=client, actor="test")
    with django_assert_max_num_queries(12):  # key, audit, settings (made once): then count and page
        assert alpha_api.get(START).json()["count"] == 3


def test_a_payment_after_the_order_withdraws_the_open_order(tenant, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    client = late()
    item = services.disconnection_start(client=client, actor="test")
    with travel("2026-11-30"):
        services.disconnections_due()
        with django_capture_on_commit_callbacks(execute=True):
            pay(client, "1440.00")
    item.refresh_from_db()
    assert item.status == "cancelled"
    assert WorkOrder.objects.get(source=f"disconnection:{item.pk}").status == "cancelled"


def test_the_daily_job_breaks_plans_and_opens_orders(tenant) -> None:  # type: ignore[no-untyped-def]
    from arrears.tasks import daily

    first, second = lates("On A Plan", "Noticed")
    services.plan_create(client=first, instalments=2, first_due=date(2026, 11, 25), actor="test")
    services.disconnection_start(client=second, actor="test")
    with travel("2026-12-03"):  # the plan's first instalment 8 days late (grace 7); the notice's date passed
        assert daily.delay().get() == {"plans_broken": 1, "orders_opened": 1}
        assert daily.delay().get() == {"plans_broken": 0, "orders_opened": 0}


def test_without_a_reconnection_fee_paying_the_arrears_is_enough(tenant, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    client = late()
    item = services.disconnection_start(client=client, actor="test")
    with travel("2026-11-30"):
        services.disconnections_due()
    finish(WorkOrder.objects.get(source=f"disconnection:{item.pk}"))
    item.refresh_from_db()
    assert (item.status, item.fee) == ("disconnected", D("0.00"))
    with django_capture_on_commit_callbacks(execute=True):
        pay(client, "1440.00")
    item.refresh_from_db()
    assert item.status == "reconnect_ordered"


def test_the_portal_home_tells_the_client_the_date_then_what_reconnection_asks(tenant) -> None:  # type: ignore[no-untyped-def]
    from accounts.models import User

    reconnection_fee("1000.00")
    client = late()
    Client.objects.filter(pk=client.pk).update(user=User.objects.get(email="carol@alpha.test"))
    carol = Http(HTTP_HOST=host_of("alpha"))
    assert login(carol, "carol@alpha.test").status_code == 302
    assert 'data-testid="portal-disconnection"' not in carol.get("/portal/").content.decode()

    item = services.disconnection_start(client=client, actor="test")
    home = carol.get("/portal/").content.decode()
    assert "will be disconnected on 30 November 2026" in home and "Pay KES 1,440.00" in home

    with travel("2026-11-30"):
        services.disconnections_due()
        finish(WorkOrder.objects.get(source=f"disconnection:{item.pk}"))
        home = carol.get("/portal/").content.decode()
    # 1,440.00 arrears + 1,000.00 reconnection fee.
    assert "Your water supply is disconnected" in home
    assert "Pay KES 2,440.00 (your arrears and the reconnection fee of KES 1,000.00)" in home
