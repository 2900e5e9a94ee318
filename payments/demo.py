"""Demo payments for `seed_demo`: sandbox M-Pesa settings that work against the local Daraja
stand-in (`make run` starts it), and a month of payments, a few of them unmatched."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

# Safaricom's public sandbox values (shared/reference/payments-apis.md §1.8).
SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"


def seed_payments() -> None:
    from billing.selectors import client_balance
    from clients.models import Client
    from payments.models import Payment, PaymentSettings
    from payments.services import payment_record

    cfg = PaymentSettings.load()
    if not cfg.mpesa_shortcode:
        cfg.mpesa_shortcode, cfg.mpesa_environment = SANDBOX_SHORTCODE, PaymentSettings.Environment.SANDBOX
        cfg.mpesa_consumer_key, cfg.mpesa_consumer_secret = "demo-consumer-key", "demo-consumer-secret"
        cfg.mpesa_passkey = SANDBOX_PASSKEY
        cfg.save()
    if Payment.objects.exists():
        return
    rng = random.Random(7)
    now = timezone.now()
    for i, client in enumerate(Client.objects.filter(status=Client.Status.ACTIVE).order_by("account_number")):
        owed = client_balance(client.pk)
        if owed <= 0 or i % 4 == 3:  # every fourth client has not paid yet
            continue
        amount = owed if i % 3 else (owed / 2).quantize(Decimal("1"))
        method = Payment.Method.MPESA if i % 5 else Payment.Method.CASH
        payment_record(method=method, receipt=f"SDEMO{i:05d}" if method == Payment.Method.MPESA else f"CASH-{i:04d}",
                       amount=amount, paid_at=now - timedelta(days=rng.randint(1, 20), minutes=rng.randint(0, 600)),
                       client=client, account_reference=client.account_number, payer="2547 ***** 149",
                       payer_name="DEMO PAYER")
    for j, typed in enumerate(["ACC-TYPO", "12345"]):
        payment_record(method=Payment.Method.MPESA, receipt=f"SDEMOU{j:04d}", amount=Decimal("500.00"),
                       paid_at=now - timedelta(days=2, hours=j), client=None, account_reference=typed,
                       payer="2547 ***** 201", payer_name="UNKNOWN PAYER")


def seed_notices() -> None:
    """The latest bills texted to their clients (the demo's message log is not empty)."""
    from billing.models import BillingRun, Invoice
    from payments.notices import invoice_notices

    run = BillingRun.objects.filter(status=BillingRun.Status.FINALIZED).order_by("-period").first()
    if run is not None:
        invoice_notices(list(Invoice.objects.filter(run=run).values_list("id", flat=True)))
