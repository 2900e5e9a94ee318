from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from clients.models import Category, Client

KES = {"max_digits": 12, "decimal_places": 2}


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

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="ledger")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    amount = models.DecimalField(**KES)
    booked_on = models.DateField()
    reference = models.CharField(max_length=60, blank=True)
    description = models.CharField(max_length=200, blank=True)
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
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise LedgerIsAppendOnly("Ledger entries are never deleted: post a reversal instead.")


class NumberSequence(models.Model):
    """Gapless counters per provider (e.g. invoice numbers per year): a number is taken in the
    same transaction as the document that uses it, so a rollback gives it back."""

    name = models.CharField(max_length=40, unique=True)
    next_value = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return f"{self.name}: {self.next_value}"
