"""The story behind the collections and billing reports' tests, seen on 10 Nov 2026 (Nairobi).

Tariffs: domestic up to 10 m³ @ 40, up to 30 @ 55, fixed charge 100; commercial every m³ @ 90,
fixed charge 200. Rules: bills due 14 days after issue, a 10% penalty on what is overdue at the
period's end (no grace days). Fee: "Reconnection fee" 1,000.00.

Bills:
- September (issued 2 Oct, due 16 Oct): Ann (domestic, zone North) 10 m³ = 400 + 100 = 500.00;
  Ben (domestic) 5 m³ = 200 + 100 = 300.00. Total 800.00, 15.000 m³.
- Ann pays 500.00 by M-Pesa on 10 Oct (before October's run): nothing of hers is overdue.
- Ann is charged the reconnection fee on 15 Oct: it is a line of her October bill.
- The shop (commercial) opens in October and reads 20 m³ on 31 Oct.
- October (issued 2 Nov): Ann 18 m³ = 400 + 8 × 55 = 840 water + 100 fixed + 1,000 fee = 1,940.00;
  Ben has no reading in October: estimated at his September's 5 m³ / 30 days × 31 days = 5.167 m³
  = 206.68 water + 100 fixed + penalty 10% of his overdue 300.00 = 30.00: 336.68;
  the shop 20 m³ × 90 = 1,800 water + 200 fixed = 2,000.00.
  October: 3 invoices, 4,276.68 KES, 43.167 m³; 1 estimated (5.167 m³).
  Lines: water 840 (2 bands) + 206.68 + 1,800 = 2,846.68 in 4 lines; fixed 400.00 in 3;
  penalty 30.00 in 1; fee 1,000.00 in 1 (sum 4,276.68).

Payments after the October run:
- Ben 100.00 cash on 31 Oct 23:30 Nairobi (20:30 UTC): October.
- 250.00 M-Pesa on 20 Oct that matched no account (unmatched: still collected).
- 75.00 M-Pesa on 31 Oct 22:00 Nairobi, matched no account, then refunded: not collected.
- Ann 400.00 by bank on 1 Nov 00:30 Nairobi (31 Oct 21:30 UTC): November.
- Ben 60.00 M-Pesa on 3 Nov, then reversed: not collected.

Collected: October 500 + 100 + 250 = 850.00 (M-Pesa 750.00 in 2, cash 100.00 in 1) on 10, 20
and 31 Oct; November 400.00 (bank, 1) on 1 Nov. Efficiency: September 0 / 800 = 0.0%; October
850 / 4,276.68 = 0.1988 → 19.9%; November nothing billed (—).
Unmatched 1 (250.00), reversed 1 (60.00), refunded 1 (75.00), all received in the last 12 months.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.test import Client as Http

from billing.fees import fee_charge, fee_create
from billing.models import BillingSettings
from billing.runs import billing_run_finalize, billing_run_start
from clients.models import Category, Client, Zone
from payments.models import Payment
from payments.services import payment_mark_refunded, payment_record, payment_reverse
from tests.billing_helpers import domestic_tariff, metered, read, travel
from tests.conftest import host_of, login

NBO = ZoneInfo("Africa/Nairobi")
D = Decimal
TODAY = "2026-11-10"
STAFF = ("alice@alpha.test", "amos@alpha.test", "anne@alpha.test")


def as_(email: str, slug: str = "alpha") -> Http:
    http = Http(HTTP_HOST=host_of(slug))
    assert login(http, email).status_code == 302
    return http


def paid(client: Client | None, amount: str, when: datetime, receipt: str, method: str = "mpesa") -> Payment:
    return payment_record(method=method, receipt=receipt, amount=D(amount), paid_at=when, client=client,
                          account_reference=client.account_number if client else "NOSUCH").payment


def _run(period: str, day: str) -> None:
    with travel(day):
        billing_run_finalize(run=billing_run_start(period=period)[0])


def tell() -> Iterator[dict[str, Any]]:
    """The story, told under the `tenant` fixture (a test module's `story` fixture yields from it)."""
    rules = BillingSettings.load()
    rules.penalty_percent, rules.penalty_grace_days, rules.due_days = D("10"), 0, 14
    rules.save()
    domestic_tariff(code="com", name="Commercial", category=Category.objects.get(code="commercial"),
                    fixed_charge=D("200.00"), blocks=[(None, D("90.00"))])
    fee_create(actor="test", code="reconnection", name="Reconnection fee", amount=D("1000.00"), kind="fee")
    north = Zone.objects.create(code="north", name="North")
    ann, ann_meter = metered("Ann Atieno")
    ben, ben_meter = metered("Ben Barasa")
    ann.zone = north
    ann.save(update_fields=["zone"])
    for meter, values in ((ann_meter, ("0", "10", "28")), (ben_meter, ("0", "5"))):
        for value, day in zip(values, ("2026-08-31", "2026-09-30", "2026-10-31"), strict=False):
            read(meter, value, day)
    _run("2026-09", "2026-10-02")
    with travel("2026-10-10"):
        paid(ann, "500.00", datetime(2026, 10, 10, 12, 0, tzinfo=NBO), "ANN0001")
    with travel("2026-10-15"):
        fee_charge(client=ann, code="reconnection", actor="test")
    shop, shop_meter = metered("Duka Shop", category="commercial", installed=date(2026, 10, 1))
    read(shop_meter, "20", "2026-10-31")
    _run("2026-10", "2026-11-02")
    with travel(TODAY):
        paid(ben, "100.00", datetime(2026, 10, 31, 23, 30, tzinfo=NBO), "BEN0001", "cash")
        paid(None, "250.00", datetime(2026, 10, 20, 9, 0, tzinfo=NBO), "LOST0001")
        refunded = paid(None, "75.00", datetime(2026, 10, 31, 22, 0, tzinfo=NBO), "LOST0002")
        paid(ann, "400.00", datetime(2026, 11, 1, 0, 30, tzinfo=NBO), "ANN0002", "bank")
        reversed_ = paid(ben, "60.00", datetime(2026, 11, 3, 10, 0, tzinfo=NBO), "BEN0002")
        payment_reverse(payment=reversed_, reason="typed twice", actor="test")
        payment_mark_refunded(payment=refunded, reason="M-Pesa reversal R1", actor="test")
        yield {"ann": ann, "ben": ben, "shop": shop, "reversed": reversed_, "refunded": refunded}
