from __future__ import annotations

from decimal import Decimal
from typing import TypedDict

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy

from clients.models import Client, Zone


class _Digits(TypedDict):
    max_digits: int
    decimal_places: int


M3: _Digits = {"max_digits": 12, "decimal_places": 3}


class Meter(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", gettext_lazy("Active")
        INACTIVE = "inactive", gettext_lazy("Inactive")
        REPLACED = "replaced", gettext_lazy("Replaced")

    class Kind(models.TextChoices):
        CLIENT = "client", "Client meter"
        # A zone's bulk (district) meter: what went into the zone, for non-revenue water. Read
        # like any meter, never billed.
        BULK = "bulk", "Bulk (zone) meter"

    serial = models.CharField(max_length=40, unique=True)
    # A database default too: statements that insert meters by SQL (bench) make client meters.
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CLIENT, db_default=Kind.CLIENT)
    client = models.ForeignKey(Client, null=True, blank=True, on_delete=models.PROTECT, related_name="meters")
    zone = models.ForeignKey(Zone, null=True, blank=True, on_delete=models.PROTECT, related_name="bulk_meters")
    installed_on = models.DateField()
    initial_reading = models.DecimalField(**M3, default=Decimal("0.000"))
    # The dial wraps to zero after this value (e.g. 99999.999 on a five-digit register).
    dial_capacity = models.DecimalField(**M3, default=Decimal("99999.999"))
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    replaced_by = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces")
    final_reading = models.DecimalField(**M3, null=True, blank=True)
    removed_on = models.DateField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["serial"]
        constraints = [models.CheckConstraint(
            # A client meter is its client's (its zone is the client's); a bulk meter a zone's, nobody's bill.
            condition=models.Q(kind="client", client__isnull=False, zone__isnull=True)
            | models.Q(kind="bulk", client__isnull=True, zone__isnull=False),
            name="meter_belongs_to_client_or_zone")]

    def __str__(self) -> str:
        return self.serial

    @property
    def is_bulk(self) -> bool:
        return self.kind == self.Kind.BULK

    @property
    def wrap(self) -> Decimal:
        """What one full turn of the dial adds (capacity + the smallest step)."""
        return self.dial_capacity + Decimal("0.001")


class Reading(models.Model):
    class Source(models.TextChoices):
        MANUAL = "manual", "Entry sheet"
        CSV = "csv", "CSV upload"
        API = "api", "API"
        PORTAL = "portal", "Client (portal)"

    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        FLAGGED = "flagged", "Flagged for review"
        REJECTED = "rejected", "Rejected"

    class Reason(models.TextChoices):
        NORMAL = "", "Normal"
        ROLLOVER = "rollover", "Dial rolled over"
        REPLACEMENT = "replacement", "Meter replacement"

    class Flag(models.TextChoices):
        HIGH = "high_consumption", "Over 3× the recent daily average"
        ZERO = "zero_streak", "Zero consumption three periods running"
        DIAL = "dial_range", "Outside what the dial allows"
        CLIENT = "client_submitted", "Submitted by the client"

    # No separate index: the unique (meter, read_at) index serves every per-meter lookup.
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="readings", db_index=False)
    value = models.DecimalField(**M3)
    read_at = models.DateTimeField()
    consumption = models.DecimalField(**M3, null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    reason = models.CharField(max_length=12, choices=Reason.choices, default=Reason.NORMAL, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACCEPTED)
    flags = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    note = models.CharField(max_length=300, blank=True)
    photo = models.FileField(upload_to="readings/%Y/%m/", null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["meter", "read_at"]
        constraints = [models.UniqueConstraint(fields=["meter", "read_at"], name="one_reading_per_meter_and_time")]
        # The review queue: only flagged readings, a small set, are indexed by time.
        indexes = [models.Index(fields=["read_at"], name="reading_review_queue", condition=models.Q(status="flagged"))]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.value} @ {self.read_at:%Y-%m-%d}"

    @property
    def litres(self) -> Decimal | None:
        return None if self.consumption is None else self.consumption * 1000





class ReadingImport(models.Model):
    """A CSV of readings being imported in the background, with its progress and outcome."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    token = models.CharField(max_length=32, unique=True)
    file_name = models.CharField(max_length=200, blank=True)
    total_rows = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    summary = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.status})"
