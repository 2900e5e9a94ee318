from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from billing.models import Invoice, LedgerEntry
from clients.models import Client

KES = {"max_digits": 12, "decimal_places": 2}


class CallbackInbox(models.Model):
    """Every callback as it arrived (raw body, headers, source), stored before it is answered
    and processed afterwards by a Celery task; nothing a payment provider sends is lost."""

    class Kind(models.TextChoices):
        C2B_VALIDATION = "c2b_validation", "M-Pesa C2B validation"
        C2B_CONFIRMATION = "c2b_confirmation", "M-Pesa C2B confirmation"
        STK_CALLBACK = "stk_callback", "M-Pesa STK push result"
        PAYSTACK = "paystack", "Paystack event"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        DUPLICATE = "duplicate", "Duplicate delivery"
        INVALID = "invalid", "Could not be read"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    body = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    note = models.CharField(max_length=300, blank=True)
    received = models.DateTimeField(auto_now_add=True)
    processed = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received"]
        verbose_name_plural = "callback inbox"

    def __str__(self) -> str:
        return f"{self.kind} {self.received:%Y-%m-%d %H:%M} ({self.status})"


class Payment(models.Model):
    class Method(models.TextChoices):
        MPESA = "mpesa", "M-Pesa"
        PAYSTACK = "paystack", "Card (Paystack)"
        CASH = "cash", "Cash"
        BANK = "bank", "Bank"

    class Status(models.TextChoices):
        MATCHED = "matched", "Matched"
        UNMATCHED = "unmatched", "Unmatched (reconciliation)"
        REVERSED = "reversed", "Reversed"
        REFUNDED = "refunded", "Refunded"

    # The M-Pesa TransID / receipt, Paystack reference, or the bank/cash reference: unique per
    # method, so the same delivery twice can never make two payments.
    receipt = models.CharField(max_length=64)
    method = models.CharField(max_length=10, choices=Method.choices)
    amount = models.DecimalField(**KES)
    client = models.ForeignKey(Client, null=True, blank=True, on_delete=models.PROTECT, related_name="payments")
    status = models.CharField(max_length=10, choices=Status.choices, db_index=True)
    paid_at = models.DateTimeField()
    account_reference = models.CharField(max_length=64, blank=True, help_text="What the payer typed (BillRefNumber).")
    payer = models.CharField(max_length=120, blank=True, help_text="As the provider gave it (may be masked or hashed).")
    payer_name = models.CharField(max_length=200, blank=True)
    ledger_entry = models.OneToOneField(LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    inbox = models.ForeignKey(CallbackInbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-paid_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["method", "receipt"], name="one_payment_per_receipt")]
        indexes = [models.Index(fields=["client", "paid_at"])]

    def __str__(self) -> str:
        return f"{self.receipt} {self.amount}"


class Allocation(models.Model):
    """The part of a payment that settles an invoice (oldest open invoice first)."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations")
    amount = models.DecimalField(**KES, default=Decimal("0.00"))

    class Meta:
        ordering = ["payment", "id"]

    def __str__(self) -> str:
        return f"{self.payment_id} → {self.invoice_id}: {self.amount}"
