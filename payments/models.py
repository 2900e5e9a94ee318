from __future__ import annotations

from decimal import Decimal
from typing import TypedDict

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy

from billing.models import Invoice, LedgerEntry
from clients.models import Client
from majismart.crypto import EncryptedTextField


class _Digits(TypedDict):
    max_digits: int
    decimal_places: int


KES: _Digits = {"max_digits": 12, "decimal_places": 2}


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
    # Encrypted at rest: a callback carries the payer's phone number and name. The headers kept
    # (content type, user agent, proxy addresses, a signature) and the source address are the
    # payment provider's, not the payer's.
    body = EncryptedTextField(blank=True, default="")
    headers = models.JSONField(default=dict, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    note = models.CharField(max_length=300, blank=True)
    received = models.DateTimeField(auto_now_add=True)
    processed = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received"]
        # Only rows waiting to be processed are looked up by status (the drain, its flag, the
        # sweeper), and every callback costs each index one insert: one small partial index
        # instead of two on status (Django adds a LIKE index to an indexed CharField).
        indexes = [models.Index(fields=["kind", "id"], condition=models.Q(status="received"), name="inbox_waiting"),
                   # The sweeper's look for bodies no key opened (payments.inbox.inbox_reopen_decryptable):
                   # a callback enters it only when flagged, never on the endpoint's insert.
                   models.Index(fields=["id"], condition=models.Q(status="invalid"), name="inbox_flagged")]
        verbose_name_plural = "callback inbox"

    def __str__(self) -> str:
        return f"{self.kind} {self.received:%Y-%m-%d %H:%M} ({self.status})"


class Payment(models.Model):
    class Method(models.TextChoices):
        MPESA = "mpesa", gettext_lazy("M-Pesa")
        PAYSTACK = "paystack", gettext_lazy("Card (Paystack)")
        CASH = "cash", gettext_lazy("Cash")
        BANK = "bank", gettext_lazy("Bank")
        CHEQUE = "cheque", gettext_lazy("Cheque")

    class Status(models.TextChoices):
        MATCHED = "matched", gettext_lazy("Matched")
        UNMATCHED = "unmatched", gettext_lazy("Unmatched (reconciliation)")
        REVERSED = "reversed", gettext_lazy("Reversed")
        REFUNDED = "refunded", gettext_lazy("Refunded")

    # The M-Pesa TransID / receipt, Paystack reference, or the bank/cash reference: unique per
    # method, so the same delivery twice can never make two payments.
    receipt = models.CharField(max_length=64)
    method = models.CharField(max_length=10, choices=Method.choices)
    amount = models.DecimalField(**KES)
    client = models.ForeignKey(Client, null=True, blank=True, on_delete=models.PROTECT, related_name="payments")
    status = models.CharField(max_length=10, choices=Status.choices, db_index=True)
    paid_at = models.DateTimeField()
    account_reference = models.CharField(max_length=64, blank=True, help_text="What the payer typed (BillRefNumber).")
    # Encrypted at rest (personal data from the callback or statement).
    payer = EncryptedTextField(blank=True, default="", help_text="As the provider gave it (may be masked or hashed).")
    payer_name = EncryptedTextField(blank=True, default="")
    ledger_entry = models.OneToOneField(LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    inbox = models.ForeignKey(CallbackInbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    # A reversal (owner or manager): the ledger entry that undid the payment, who and why.
    reversal_entry = models.OneToOneField(LedgerEntry, null=True, blank=True, on_delete=models.PROTECT,
                                          related_name="+")
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    reversal_reason = models.CharField(max_length=300, blank=True, default="", db_default="")

    class Meta:
        ordering = ["-paid_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["method", "receipt"], name="one_payment_per_receipt")]
        indexes = [models.Index(fields=["client", "paid_at"]),
                   # The few payments that are not simply matched, by date (reports' collections list).
                   models.Index(fields=["paid_at"], condition=~models.Q(status="matched"), name="payment_not_matched")]

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


class PaymentSettings(models.Model):
    """One row per provider: its M-Pesa (Daraja) and Paystack credentials, encrypted at rest and
    never shown back in full, and how callbacks are judged."""

    class Environment(models.TextChoices):
        SANDBOX = "sandbox", "Sandbox (testing)"
        PRODUCTION = "production", "Production"

    class ShortcodeType(models.TextChoices):
        PAYBILL = "paybill", "Paybill"
        TILL = "till", "Till (Buy Goods)"

    class IpCheck(models.TextChoices):
        OFF = "off", "Off"
        LOG = "log", "Log callbacks from other addresses"
        ENFORCE = "enforce", "Refuse callbacks from other addresses"

    mpesa_environment = models.CharField(max_length=10, choices=Environment.choices, default=Environment.SANDBOX)
    mpesa_shortcode = models.CharField(max_length=10, blank=True,
                                       help_text="Paybill number, or the head-office (store) number of a till.")
    mpesa_shortcode_type = models.CharField(max_length=10, choices=ShortcodeType.choices, default=ShortcodeType.PAYBILL)
    mpesa_till_number = models.CharField(max_length=10, blank=True, help_text="Till number (Buy Goods only).")
    mpesa_consumer_key = EncryptedTextField(blank=True, default="")
    mpesa_consumer_secret = EncryptedTextField(blank=True, default="")
    mpesa_passkey = EncryptedTextField(blank=True, default="")
    mpesa_c2b_version = models.CharField(max_length=2, choices=[("v1", "v1"), ("v2", "v2")], default="v1",
                                         help_text="The C2B product version on your Daraja app.")
    accept_unknown_accounts = models.BooleanField(
        default=False, help_text="Accept paybill payments to unknown account numbers into reconciliation "
                                 "instead of refusing them at validation.")
    ip_check = models.CharField(max_length=10, choices=IpCheck.choices, default=IpCheck.LOG)
    paystack_secret_key = EncryptedTextField(blank=True, default="")
    c2b_registered_at = models.DateTimeField(null=True, blank=True)
    c2b_register_result = models.CharField(max_length=300, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "payment settings"

    def __str__(self) -> str:
        return f"M-Pesa {self.mpesa_shortcode or '—'} ({self.mpesa_environment})"

    @classmethod
    def load(cls) -> PaymentSettings:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

    @property
    def mpesa_ready(self) -> bool:
        return bool(self.mpesa_shortcode and self.mpesa_consumer_key and self.mpesa_consumer_secret
                    and self.mpesa_passkey)

    @property
    def paystack_ready(self) -> bool:
        return bool(self.paystack_secret_key)


class PaymentRequest(models.Model):
    """A payment we asked for: an M-Pesa STK push (keyed by Daraja's CheckoutRequestID) or a
    Paystack checkout (keyed by our reference). The callback finds it here: Daraja does not echo
    the account reference, so the client and invoice are kept from the moment we ask."""

    class Channel(models.TextChoices):
        STK = "stk", gettext_lazy("M-Pesa STK push")
        PAYSTACK = "paystack", gettext_lazy("Card (Paystack)")

    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Waiting for the payer")
        PAID = "paid", gettext_lazy("Paid")
        CONFIRMED = "confirmed", gettext_lazy("Paid, receipt awaited")
        FAILED = "failed", gettext_lazy("Failed")

    class Source(models.TextChoices):
        PORTAL = "portal", "Portal"
        PAY_LINK = "pay_link", "Pay link"
        USSD = "ussd", "USSD"

    channel = models.CharField(max_length=10, choices=Channel.choices)
    reference = models.CharField(max_length=80, unique=True)
    merchant_request_id = models.CharField(max_length=80, blank=True)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="payment_requests")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    amount = models.DecimalField(**KES)
    phone = EncryptedTextField(blank=True, default="")
    phone_index = models.CharField(max_length=64, blank=True, db_index=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.PORTAL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    result_code = models.CharField(max_length=20, blank=True)
    result_desc = models.CharField(max_length=300, blank=True)
    message = models.CharField(max_length=300, blank=True, help_text="What the payer is told.")
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="requests")
    queried_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["client", "created"]), models.Index(fields=["status", "created"])]

    def __str__(self) -> str:
        return f"{self.channel} {self.reference} {self.amount} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status != self.Status.PENDING


class DrainFlag(models.Model):
    """One row per provider: whether a drain of stored C2B confirmations is queued or running.
    Set by the very INSERT that stores a confirmation (so the busiest endpoint makes one round
    trip), cleared by the drain when nothing is left (payments.tasks.drain_confirmations).
    `beat` is when the flag was raised or a drain last showed it was alive: a flag left up with an
    old beat (the drain's message lost, its worker killed) is noticed by
    payments.tasks.watch_callbacks, which queues a drain again."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    pending = models.BooleanField(default=False)
    beat = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"drain {'pending' if self.pending else 'idle'}"
