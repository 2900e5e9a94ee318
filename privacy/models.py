"""Privacy and data protection in a provider's schema: data-subject requests and their due dates,
data exports, the retention policy and its runs, and who accepted which policy version.

This app sits on top (… → billing → payments → privacy): it reads every app for exports and
retention; nothing below imports it. The provider is the controller of its clients' data;
MajiSmart is the processor.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy, pgettext_lazy

from majismart.crypto import EncryptedTextField


class DataRequest(models.Model):
    """A request under the Data Protection Act 2019, with its legal due date (General Regulations
    2021: 7 days for access, correction, deletion, objection; 30 for portability)."""

    class Kind(models.TextChoices):
        EXPORT = "export", gettext_lazy("Copy of my data (access and portability)")
        CORRECTION = "correction", gettext_lazy("Correction")
        DELETION = "deletion", gettext_lazy("Deletion")
        OBJECTION = "objection", gettext_lazy("Objection to processing")
        RESTRICTION = "restriction", gettext_lazy("Restriction of processing")

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("status", "Open")
        DONE = "done", gettext_lazy("Done")
        REFUSED = "refused", gettext_lazy("Refused")

    class Source(models.TextChoices):
        PORTAL = "portal", gettext_lazy("Portal")
        STAFF = "staff", "Recorded by staff"

    # Days allowed to answer. A copy of one's data serves access (7 days) as well as portability
    # (30): the stricter deadline applies.
    DUE_DAYS = {Kind.EXPORT: 7, Kind.CORRECTION: 7, Kind.DELETION: 7, Kind.OBJECTION: 7, Kind.RESTRICTION: 7}

    kind = models.CharField(max_length=12, choices=Kind.choices)
    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="data_requests")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.PORTAL)
    # What the person wrote: may itself be personal (the corrected phone number), so encrypted.
    details = EncryptedTextField(blank=True, default="")
    purposes = models.JSONField(default=list, blank=True, help_text="Objection/restriction: the purposes named.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN, db_index=True)
    due_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=254, blank=True)
    resolution = EncryptedTextField(blank=True, default="")
    reminded_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["status", "due_at"]), models.Index(fields=["client", "created"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @classmethod
    def due_for(cls, kind: str, start):  # type: ignore[no-untyped-def]
        return start + timedelta(days=cls.DUE_DAYS[cls.Kind(kind)])

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class DataExport(models.Model):
    """A zip of personal data built by Celery: one client's (their right of access) or the whole
    provider's (its right as controller). Downloaded by a secret token until it expires."""

    class Scope(models.TextChoices):
        CLIENT = "client", "One client"
        PROVIDER = "provider", "Whole provider"

    class Status(models.TextChoices):
        PENDING = "pending", "Being prepared"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.CLIENT)
    client = models.ForeignKey("clients.Client", null=True, blank=True, on_delete=models.PROTECT,
                               related_name="data_exports")
    request = models.OneToOneField(DataRequest, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="export")
    token = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    path = models.CharField(max_length=300, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    error = models.CharField(max_length=300, blank=True)
    requested_by = models.CharField(max_length=254, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    downloads = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"export {self.scope} #{self.pk} ({self.status})"


class RetentionPolicy(models.Model):
    """One row per provider: how long each kind of record is kept, within legal bounds."""

    billing_years = models.PositiveSmallIntegerField(
        default=7, validators=[MinValueValidator(7), MaxValueValidator(10)],
        help_text="Bills, payments, ledger and meter readings (7 years is the legal minimum).")
    callback_days = models.PositiveSmallIntegerField(
        default=90, validators=[MinValueValidator(30), MaxValueValidator(365)],
        help_text="Raw payment callbacks, counted from when they were processed.")
    audit_months = models.PositiveSmallIntegerField(
        default=12, validators=[MinValueValidator(12), MaxValueValidator(84)],
        help_text="Audit and usage logs.")
    notification_months = models.PositiveSmallIntegerField(
        default=12, validators=[MinValueValidator(3), MaxValueValidator(84)],
        help_text="The message delivery log.")
    export_days = models.PositiveSmallIntegerField(
        default=7, validators=[MinValueValidator(1), MaxValueValidator(30)],
        help_text="How long a data export can be downloaded.")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        return f"billing {self.billing_years}y, callbacks {self.callback_days}d"

    @classmethod
    def load(cls) -> RetentionPolicy:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

    def clean(self) -> None:
        if self.pk not in (None, 1):
            raise ValidationError("A provider has one retention policy.")


class RetentionRun(models.Model):
    """What one application of the retention rules removed (or, dry, would remove)."""

    started = models.DateTimeField()
    finished = models.DateTimeField(null=True, blank=True)
    dry_run = models.BooleanField(default=False)
    cutoffs = models.JSONField(default=dict)
    counts = models.JSONField(default=dict)

    class Meta:
        ordering = ["-started", "-id"]

    def __str__(self) -> str:
        return f"retention {self.started:%Y-%m-%d} {'(dry)' if self.dry_run else ''}"


class PolicyAcceptance(models.Model):
    """A user of this schema accepting a version of the privacy policy or the terms."""

    class Kind(models.TextChoices):
        PRIVACY = "privacy", "Privacy policy"
        TERMS = "terms", "Terms of service"

    user_id = models.BigIntegerField(db_index=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    version = models.CharField(max_length=20)
    source = models.CharField(max_length=20, help_text="registration, login, signup")
    ip = EncryptedTextField(blank=True, default="")
    accepted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-accepted_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user_id", "kind", "version"], name="one_acceptance_per_version")]

    def __str__(self) -> str:
        return f"user {self.user_id} accepted {self.kind} {self.version}"


class ErasureRecord(models.Model):
    """That a client's personal data was erased and their identity replaced by a pseudonym (the
    records the law keeps — bills, payments, the ledger — stay under the pseudonym). Names the
    client by id only: once retention ends even the client row may go."""

    class Reason(models.TextChoices):
        REQUEST = "request", "The client asked for deletion"
        RETENTION = "retention", "Closed account past retention"
        PROVIDER_CLOSED = "provider_closed", "Provider account closed"

    client_id = models.BigIntegerField(unique=True)
    pseudonym = models.CharField(max_length=20, unique=True)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    request = models.ForeignKey(DataRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    erased_by = models.CharField(max_length=254, blank=True)
    erased_at = models.DateTimeField(auto_now_add=True)
    counts = models.JSONField(default=dict)

    class Meta:
        ordering = ["-erased_at", "-id"]

    def __str__(self) -> str:
        return f"{self.pseudonym} ({self.reason})"
