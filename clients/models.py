from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Upper

from majismart.crypto import TOKEN_LENGTH, EncryptedTextField, blind_index, word_tokens


class ClientSettings(models.Model):
    """One row per provider: how account numbers are made (what clients type as the M-Pesa
    account reference)."""

    account_prefix = models.CharField(max_length=10, default="ACC", blank=True)
    account_digits = models.PositiveSmallIntegerField(default=5)
    next_account_number = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name_plural = "client settings"

    def __str__(self) -> str:
        return f"{self.account_prefix}{'0' * self.account_digits}"

    @classmethod
    def load(cls) -> ClientSettings:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

    def format(self, number: int) -> str:
        return f"{self.account_prefix}{number:0{self.account_digits}d}"


class Category(models.Model):
    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=80)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Zone(models.Model):
    """A zone or meter-reading route."""

    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=80)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Client(models.Model):
    """The billed account."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISCONNECTED = "disconnected", "Disconnected"
        CLOSED = "closed", "Closed"

    account_number = models.CharField(max_length=30, unique=True)
    # Personal fields: encrypted at rest, found through keyed blind indexes. The name is found
    # by any whole word of it (one keyed token per word, GIN-indexed); lists order by account.
    full_name = EncryptedTextField()
    name_tokens = ArrayField(models.CharField(max_length=TOKEN_LENGTH), default=list, blank=True, editable=False)
    phone = EncryptedTextField(blank=True, default="")
    phone_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    email = EncryptedTextField(blank=True, default="")
    email_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    national_id = EncryptedTextField(blank=True, default="")
    national_id_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="clients")
    zone = models.ForeignKey(Zone, null=True, blank=True, on_delete=models.SET_NULL, related_name="clients")
    location = EncryptedTextField("location / plot", blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    opening_balance = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    # Never put up for disconnection (a hospital, a school): the provider's call, per client.
    disconnection_exempt = models.BooleanField(default=False, db_default=False)  # raw COPY (bench) leaves it out
    # The language everything sent to the client is in ("": the provider's default): set in the
    # portal, by staff, or by the client's own choice on USSD.
    language = models.CharField(max_length=8, blank=True, default="", db_default="",
                                choices=[("", "Provider's default"), *settings.LANGUAGES])
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="client"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_number"]
        indexes = [GinIndex(fields=["name_tokens"], name="client_name_tokens"),
                   models.Index(fields=["zone", "account_number"]),
                   # Payers type account numbers in any case (M-Pesa BillRefNumber).
                   models.Index(Upper("account_number"), name="client_account_upper")]

    def __str__(self) -> str:
        return f"{self.account_number} {self.full_name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.fill_indexes()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "phone_index", "email_index", "national_id_index",
                                       "name_tokens"}
        super().save(*args, **kwargs)

    def fill_indexes(self) -> None:
        self.phone_index = blind_index(self.phone) if self.phone else ""
        self.email_index = blind_index(self.email) if self.email else ""
        self.national_id_index = blind_index(self.national_id) if self.national_id else ""
        self.name_tokens = word_tokens(self.full_name or "")
