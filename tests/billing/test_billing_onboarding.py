"""Issue 17, onboarding without dead ends, on the billing-run pages: the suggested period, the
preview's warnings about tariffs and meters that start after the period, and what finalising
will not do (text the bills; reach clients with no phone and no email)."""

from __future__ import annotations

from datetime import date

from django.test import Client as Http
from django_tenants.utils import tenant_context

from billing.models import BillingRun
from clients.models import Category, Client
from tests.billing_helpers import domestic_tariff, metered, read
from tests.conftest import host_of, login
from tests.notifications_helpers import sms_ready


def staff(email: str = "anne@alpha.test") -> Http:
    browser = Http(HTTP_HOST=host_of("alpha"))
    assert login(browser, email).status_code == 302
    return browser


def suggested(browser: Http) -> bytes:
    page = browser.get("/dashboard/billing/")
    assert page.status_code == 200
    return page.content


def start(browser: Http, period: str) -> int:
    created = browser.post("/dashboard/billing/runs/new/", {"period": period})
    assert created.status_code == 302
    return int(created.url.rstrip("/").split("/")[-1])


def test_the_suggested_period_is_the_latest_ended_one_with_readings(tenant, alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        _, meter = metered("Suggest")
        read(meter, "10", "2026-08-31")
        read(meter, "20", "2026-09-15")
        # Today (2026-11-23) is in November: its readings belong to a period not yet ended.
        read(meter, "30", "2026-11-02")
    assert b'value="2026-09"' in suggested(staff())
    with tenant_context(alpha):
        _, other = metered("Suggest too")
        read(other, "5", "2026-10-31")
    assert b'value="2026-10"' in suggested(staff())


def test_without_readings_the_last_ended_month_is_suggested(tenant) -> None:  # type: ignore[no-untyped-def]
    assert b'value="2026-10"' in suggested(staff())


def test_the_preview_warns_of_tariffs_and_meters_starting_after_the_period(
        tenant, alpha, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        domestic_tariff(code="com", name="Commercial", category=Category.objects.get(code="commercial"), effective_from=date(2026, 12, 1))
        for i in range(3):
            metered(f"Shop {i}", category="commercial")
        closed, _ = metered("Shop closed", category="commercial")
        Client.objects.filter(pk=closed.pk).update(status="closed")
        metered("Early", installed=date(2026, 1, 1))
        for i in range(2):
            metered(f"Late {i}", installed=date(2026, 11, 5))
    anne = staff()
    pk = start(anne, "2026-10")
    with django_assert_max_num_queries(14):  # the two warnings add one query, not one per client
        page = anne.get(f"/dashboard/billing/runs/{pk}/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "The Commercial tariff starts on 1 Dec 2026, after this period: its 3 active clients have no tariff" in text
    assert "2 meters were installed after the period&#x27;s end (31 Oct 2026)" in text


def test_finalising_warns_when_sms_is_not_set_up_and_lists_clients_without_contact(
        tenant, alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        for i in range(7):
            client, meter = metered(f"Quiet {i}")
            read(meter, "5", "2026-10-20")
        clients = sorted(Client.objects.values_list("account_number", "pk"))
    anne = staff()
    pk = start(anne, "2026-10")
    text = anne.get(f"/dashboard/billing/runs/{pk}/").content.decode()
    assert 'data-testid="sms-not-set-up"' in text and "bills will not be texted" in text
    assert "7 clients in this run have no phone and no email" in text
    listed = [f'href="/dashboard/clients/{client_pk}/">{account}</a>' for account, client_pk in clients]
    assert all(link in text for link in listed[:5])
    assert listed[5] not in text and " …</div>" in text


def test_no_finalise_warnings_when_everything_is_set_up(tenant, alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        sms_ready()
        client, meter = metered("Reachable")
        client.phone = "+254712345678"
        client.save()
        other, meter2 = metered("Mailable")
        other.email = "mail@example.test"
        other.save()
        read(meter, "5", "2026-10-20")
        read(meter2, "5", "2026-10-20")
    anne = staff()
    pk = start(anne, "2026-10")
    text = anne.get(f"/dashboard/billing/runs/{pk}/").content.decode()
    assert "Issue the invoices" in text
    assert 'data-testid="sms-not-set-up"' not in text and 'data-testid="contactless"' not in text
    assert 'data-testid="period-warning"' not in text
    with tenant_context(alpha):
        assert BillingRun.objects.get(pk=pk).status == "draft"
