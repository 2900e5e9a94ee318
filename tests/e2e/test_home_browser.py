"""The owner's home in Chromium, on a laptop and on a phone: the money figures against hand-computed
ones, the 12-month chart with its month labels, nothing wider than a 390 px screen.

The server runs on the real clock, so the story is set in the last three months (M-2, M-1 and
this month M0), with the figures of tests/tenants/test_home.py:
- Ann: M-2 10 m³ = 500.00, M-1 18 m³ = 940.00; Ben: M-2 5 m³ = 300.00, M-1 10 m³ = 500.00;
- M-2 billed on the 2nd of M-1 (due in 14 days), M-1 billed on the 1st of M0 (due in 45 days);
- paid in M-1: Ann 500.00, Ben 100.00, 250.00 to no account; paid on the 1st of M0: Ann 400.00.
Latest period M-1: billed 1,440.00, collected 850.00, 59.0%; owed 540 + 700 = 1,240.00, of which
700.00 past due (Ben's oldest unpaid bill is M-2's, past its due date: his whole balance; Ann's is
M-1's, due in 45 days); 1 unmatched payment of 250.00."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from tests.billing_helpers import domestic_tariff, metered, own_provider, read
from tests.e2e.conftest import AppServer
from tests.e2e.test_billing_wizard_browser import log_in

pytestmark = pytest.mark.e2e
NBO = ZoneInfo("Africa/Nairobi")


def _month(first: date, n: int) -> date:
    index = first.year * 12 + first.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


@pytest.fixture
def money_provider(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    from billing.models import BillingSettings
    from billing.runs import billing_run_finalize, billing_run_start
    from payments.services import payment_record

    today = timezone.localdate()
    m0 = date(today.year, today.month, 1)
    m1, m2 = _month(m0, -1), _month(m0, -2)
    ends = [_month(m0, k) - timedelta(days=1) for k in (-2, -1, 0)]  # last days of M-3, M-2, M-1
    with own_provider(django_db_blocker, "home", name="Home Water") as made:
        with django_db_blocker.unblock(), tenant_context(made):
            domestic_tariff()
            ann, ann_meter = metered("Ann Atieno", installed=_month(m0, -4))
            ben, ben_meter = metered("Ben Barasa", installed=_month(m0, -4))
            for meter, values in ((ann_meter, ("0", "10", "28")), (ben_meter, ("0", "5", "15"))):
                for value, day in zip(values, ends, strict=True):
                    read(meter, value, day.isoformat())
            for period_first, run_at, due_days in ((m2, datetime(m1.year, m1.month, 2, 10, tzinfo=NBO), 14),
                                                   (m1, datetime(m0.year, m0.month, 1, 0, 5, tzinfo=NBO), 45)):
                cfg = BillingSettings.load()
                cfg.due_days = due_days
                cfg.save()
                with time_machine.travel(run_at, tick=True):
                    billing_run_finalize(run=billing_run_start(period=f"{period_first:%Y-%m}")[0])
            for client, amount, when, receipt in (
                    (ann, "500.00", datetime(m1.year, m1.month, 10, 12, tzinfo=NBO), "HANN0001"),
                    (ben, "100.00", datetime(m1.year, m1.month, 20, 12, tzinfo=NBO), "HBEN0001"),
                    (None, "250.00", datetime(m1.year, m1.month, 12, 9, tzinfo=NBO), "HLOST001"),
                    (ann, "400.00", datetime(m0.year, m0.month, 1, 0, 30, tzinfo=NBO), "HANN0002")):
                payment_record(method="mpesa", receipt=receipt, amount=Decimal(amount), paid_at=when, client=client,
                               account_reference=client.account_number if client else "NOSUCH")
        connection.set_schema_to_public()
        yield made, m1, m0


@pytest.mark.parametrize("width", [1280, 390])
def test_the_owners_home_shows_the_hand_computed_figures(page: Page, app_server: AppServer, money_provider,  # type: ignore[no-untyped-def]
                                                        width: int, tmp_path) -> None:
    provider, m1, m0 = money_provider
    slug = provider.slug
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, app_server, slug, f"owner@{slug}.test")
    expect(page).to_have_url(app_server.url(slug, "/dashboard/"))
    expect(page.get_by_test_id("money-period")).to_have_text(m1.strftime("%B %Y"))
    for testid, text in (("kpi-billed", "KES 1,440.00"), ("kpi-collected", "KES 850.00"), ("kpi-efficiency", "59.0%"),
                         ("kpi-owed", "KES 1,240.00"), ("kpi-overdue", "KES 700.00 past due"), ("kpi-unmatched", "1"),
                         ("kpi-unmatched-amount", "KES 250.00"),
                         ("kpi-this-month", f"{m0:%b %Y} so far: KES 400.00")):
        expect(page.get_by_test_id(testid)).to_have_text(text)
    chart = page.get_by_test_id("money-chart")
    expect(chart).to_be_visible()
    labels = page.get_by_test_id("chart-month").all_text_contents()
    assert len(labels) == 12 and labels[-1] == f"{m0:%b %Y}" and labels[-2] == f"{m1:%b %Y}"
    assert chart.locator("rect").count() == 24
    row = page.get_by_test_id("money-table").locator("tr", has_text=f"{m1:%b %Y}")
    expect(row).to_contain_text("KES 1,440.00")
    expect(row).to_contain_text("KES 850.00")
    expect(page.get_by_test_id("checklist")).to_be_visible()  # no SMS or M-Pesa set up yet
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(tmp_path / f"home-{width}.png"), full_page=True)
    # The unmatched payment's link opens the reconciliation list.
    page.get_by_test_id("kpi-unmatched-link").click()
    expect(page).to_have_url(app_server.url(slug, "/dashboard/payments/?status=unmatched"))
    expect(page.get_by_text("HLOST001")).to_be_visible()
