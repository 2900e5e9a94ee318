from __future__ import annotations

from decimal import Decimal
from typing import TypedDict

from django.conf import settings
from django.db import models

from clients.models import Category, Client


class _Digits(TypedDict):
    max_digits: int
    decimal_places: int


KES: _Digits = {"max_digits": 12, "decimal_places": 2}


class Tariff(models.Model):
    """One version of a category's tariff; the version in force on a period's last day bills it."""

    code = models.SlugField(max_length=30)
    name = models.CharField(max_length=100)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="tariffs")
    effective_from = models.DateField()
    fixed_charge = models.DecimalField(**KES, default=Decimal("0.00"))
    meter_rent = models.DecimalField(**KES, default=Decimal("0.00"))
    sewerage_percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0.00"))
    minimum_charge = models.DecimalField(**KES, default=Decimal("0.00"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["category__name", "-effective_from"]
        constraints = [models.UniqueConstraint(fields=["category", "effective_from"],
                                               name="one_tariff_version_per_category_and_day")]

    def __str__(self) -> str:
        return f"{self.name} (from {self.effective_from})"


class TariffBlock(models.Model):
    """An increasing block band: m³ up to `up_to` (the last band has none) at `price` per m³."""

    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="blocks")
    position = models.PositiveSmallIntegerField()
    up_to = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    price = models.DecimalField(**KES)

    class Meta:
        ordering = ["tariff", "position"]
        constraints = [models.UniqueConstraint(fields=["tariff", "position"], name="one_block_per_position")]

    def __str__(self) -> str:
        return f"≤{self.up_to if self.up_to is not None else '∞'} m³ @ {self.price}"


class LedgerQuerySet(models.QuerySet["LedgerEntry"]):
    def update(self, **kwargs: object) -> int:
        raise LedgerIsAppendOnly("Ledger entries are never edited: post a reversal instead.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise LedgerIsAppendOnly("Ledger entries are never deleted: post a reversal instead.")


class LedgerIsAppendOnly(Exception):
    pass


class LedgerEntry(models.Model):
    """The truth about what a client owes: a balance is the sum of its entries. Positive amounts
    raise what the client owes (opening balance, invoice, penalty), negative ones lower it
    (payment, credit note). Entries are only ever added; a correction is a reversing entry."""

    class Kind(models.TextChoices):
        OPENING_BALANCE = "opening_balance", "Opening balance"
        INVOICE = "invoice", "Invoice"
        PENALTY = "penalty", "Penalty"
        PAYMENT = "payment", "Payment"
        CREDIT_NOTE = "credit_note", "Credit note"
        ADJUSTMENT = "adjustment", "Adjustment"
        REVERSAL = "reversal", "Reversal"
        FEE = "fee", "Fee"
        DEPOSIT = "deposit", "Deposit"
        DEPOSIT_APPLIED = "deposit_applied", "Deposit applied"
        REFUND = "refund", "Refund"
        WRITE_OFF = "write_off", "Bad debt written off"

    # Indexed by (client, booked_on, id) below.
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="ledger", db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    amount = models.DecimalField(**KES)
    booked_on = models.DateField()
    reference = models.CharField(max_length=60, blank=True)
    description = models.CharField(max_length=200, blank=True)
    invoice = models.ForeignKey("Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries")
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    objects = LedgerQuerySet.as_manager()

    class Meta:
        ordering = ["client", "booked_on", "id"]
        indexes = [models.Index(fields=["client", "booked_on", "id"])]
        constraints = [models.UniqueConstraint(fields=["client"], condition=models.Q(kind="opening_balance"),
                                               name="one_opening_balance_per_client")]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.client_id} {self.kind} {self.amount}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise LedgerIsAppendOnly("Ledger entries are never edited: post a reversal instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise LedgerIsAppendOnly("Ledger entries are never deleted: post a reversal instead.")


class NumberSequence(models.Model):
    """Gapless counters per provider (e.g. invoice numbers per year): a number is taken in the
    same transaction as the document that uses it, so a rollback gives it back."""

    name = models.CharField(max_length=40, unique=True)
    next_value = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return f"{self.name}: {self.next_value}"


class BillingSettings(models.Model):
    """One row per provider: when invoices fall due and the late-payment penalty."""

    due_days = models.PositiveSmallIntegerField(default=14, help_text="Days from issue to the due date.")
    penalty_percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0.00"),
                                          help_text="Charged on the overdue amount at each billing run; 0 for none.")
    penalty_grace_days = models.PositiveSmallIntegerField(default=0, help_text="Days after the due date before a penalty.")
    # What a disconnected client is billed: nothing after its final bill (default), or its fixed
    # charge and meter rent each period while the connection stays (the provider's choice).
    disconnected_fixed_charges = models.BooleanField(default=False, db_default=False)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "billing settings"

    def __str__(self) -> str:
        return f"due in {self.due_days} days, penalty {self.penalty_percent}%"

    @classmethod
    def load(cls) -> BillingSettings:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class BillingRun(models.Model):
    """The billing of one period (`YYYY-MM`): a draft until finalised as a whole."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        FINALIZED = "finalized", "Finalised"

    period = models.CharField(max_length=7, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    as_of = models.DateField(help_text="The day overdue invoices were judged for penalties.")
    summary = models.JSONField(default=dict, blank=True)
    invoice_count = models.PositiveIntegerField(default=0)
    total = models.DecimalField(**KES, default=Decimal("0.00"))
    computed_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    finalized_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")

    class Meta:
        ordering = ["-period"]

    def __str__(self) -> str:
        return f"Billing {self.period} ({self.status})"


class Invoice(models.Model):
    """A client's bill for a period. A draft belongs to a draft run and may be recomputed;
    once issued it is never edited: a credit note voids it in full or in part."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ISSUED = "issued", "Issued"

    # Every index costs each of a run's 100,000 inserts and updates: the run and client are
    # served by the composite indexes below; category and tariff are only looked up the other
    # way when one is deleted, which a referenced one never is.
    # A one-off bill of charges (billing.fees, "bill it now") belongs to no run and no tariff.
    run = models.ForeignKey(BillingRun, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices",
                            db_index=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="invoices", db_index=False)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="+", db_index=False)
    tariff = models.ForeignKey(Tariff, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    period = models.CharField(max_length=7)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    number = models.CharField(max_length=20, unique=True, null=True, blank=True)
    issued_on = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    # The volume billed (m³): actual, estimated, or actual less earlier estimates (true-up).
    consumption = models.DecimalField(max_digits=12, decimal_places=3)
    estimated = models.BooleanField(default=False)
    # Water and sewerage charged for the volume: what an over-estimate is credited back at.
    volumetric = models.DecimalField(**KES, default=Decimal("0.00"))
    total = models.DecimalField(**KES)
    # Readings billed: accepted readings after `reading_from` up to `reading_to` (the closing
    # reading; none on an estimate). The next invoice starts where this one's closing reading is.
    reading_from = models.DateTimeField(null=True, blank=True)
    reading_to = models.DateTimeField(null=True, blank=True)
    meter_serial = models.CharField(max_length=40, blank=True)
    previous_reading = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    current_reading = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period", "number", "id"]
        # A period has one run, so this is one bill of a run per client and period; one-off bills of
        # charges (no run: NULLs are distinct) come besides. Its index leads with the client, and
        # every per-client look-up of invoices uses it.
        constraints = [models.UniqueConstraint(fields=["client", "period", "run"],
                                               name="one_invoice_per_client_and_period")]
        indexes = [models.Index(fields=["run", "client"]), models.Index(fields=["period", "status"]),
                   models.Index(fields=["due_date"])]

    def __str__(self) -> str:
        return self.number or f"Draft {self.period} for client {self.client_id}"


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        WATER = "water", "Water"
        MINIMUM = "minimum", "Minimum charge"
        SEWERAGE = "sewerage", "Sewerage"
        FIXED = "fixed", "Fixed charge"
        METER_RENT = "meter_rent", "Meter rent"
        ESTIMATE_CREDIT = "estimate_credit", "Estimate correction"
        PENALTY = "penalty", "Late-payment penalty"
        FEE = "fee", "Fee"
        DEPOSIT = "deposit", "Deposit"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines", db_index=False)
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=14, decimal_places=4)
    unit_price = models.DecimalField(max_digits=14, decimal_places=4)
    amount = models.DecimalField(**KES)
    # A fee or deposit line: the charge it bills (already in the ledger on its own).
    charge = models.ForeignKey("Charge", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                               db_index=False)

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="one_line_per_position"),
            # One penalty per invoice, and one invoice per client and period: never twice a period.
            models.UniqueConstraint(fields=["invoice"], condition=models.Q(kind="penalty"),
                                    name="one_penalty_per_invoice"),
        ]

    def __str__(self) -> str:
        return f"{self.description} {self.amount}"


class InvoiceMeter(models.Model):
    """The readings an invoice billed on one meter: accepted readings after `from_at` (or from
    it, on a meter's first bill) up to `to_at`. The next bill of the meter starts after the
    `to_at` of its last issued invoice, so every reading is billed once, late ones included."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="meters")
    meter = models.ForeignKey("meters.Meter", on_delete=models.PROTECT, related_name="+", db_index=False)
    serial = models.CharField(max_length=40)
    from_at = models.DateTimeField()
    to_at = models.DateTimeField()
    previous_reading = models.DecimalField(max_digits=12, decimal_places=3)
    current_reading = models.DecimalField(max_digits=12, decimal_places=3)
    consumption = models.DecimalField(max_digits=12, decimal_places=3)

    class Meta:
        ordering = ["invoice", "to_at"]
        indexes = [models.Index(fields=["meter", "to_at"])]

    def __str__(self) -> str:
        return f"{self.serial} {self.previous_reading}→{self.current_reading}"


class CreditNote(models.Model):
    """Voids an issued invoice in full or in part, with a reason; posts a ledger credit."""

    number = models.CharField(max_length=20, unique=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="credit_notes")
    amount = models.DecimalField(**KES)
    reason = models.CharField(max_length=300)
    issued_on = models.DateField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="credit_note_positive")]

    def __str__(self) -> str:
        return self.number


class Fee(models.Model):
    """The provider's fee catalogue: connection, reconnection, meter test, penalties, deposits."""

    class Kind(models.TextChoices):
        FEE = "fee", "Fee"
        DEPOSIT = "deposit", "Deposit"

    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=100)
    amount = models.DecimalField(**KES)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.FEE)
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gte=0), name="fee_not_negative")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Charge(models.Model):
    """A fee or deposit charged to a client: in the ledger at once (its entry), then on a bill
    (the next one, as its own line, or a one-off invoice of its own)."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="charges")
    fee = models.ForeignKey(Fee, on_delete=models.PROTECT, related_name="charges")
    kind = models.CharField(max_length=10, choices=Fee.Kind.choices)
    description = models.CharField(max_length=200)  # the fee's name when charged
    amount = models.DecimalField(**KES)
    note = models.CharField(max_length=300, blank=True)
    ledger_entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="charge")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="charges")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="charge_positive")]
        # The next billing run's question: which charges are on no bill yet.
        indexes = [models.Index(fields=["client"], name="charge_unbilled", condition=models.Q(invoice__isnull=True))]

    def __str__(self) -> str:
        return f"{self.client_id} {self.kind} {self.amount}"
