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
        USSD = "ussd", "Client (USSD)"
        SMS = "sms", "Client (SMS)"

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


class LeakAlertSettings(models.Model):
    """One row per provider: when an accepted reading counts as a possible leak (meters/alerts.py).

    A *spike*: the period's use is over `factor` × the meter's usual use (its last three accepted
    periods, as a daily rate, times this period's days) and at least `min_m3`. *Continuous use*:
    on a meter read daily, each of the last `continuous_days` daily readings used more than
    `continuous_floor_m3`."""

    enabled = models.BooleanField(default=True)
    factor = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("2.00"))
    min_m3 = models.DecimalField(**M3, default=Decimal("10.000"))
    continuous_days = models.PositiveSmallIntegerField(default=3)
    continuous_floor_m3 = models.DecimalField(**M3, default=Decimal("0.500"))
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "leak alert settings"

    def __str__(self) -> str:
        return "Leak alerts"

    @classmethod
    def load(cls) -> LeakAlertSettings:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class LeakEpisode(models.Model):
    """A stretch of unusual use on one meter, from the reading that showed it until use falls
    back under the threshold (closed automatically) or staff close it. The client is told once
    per episode. At most one open episode per meter."""

    class Rule(models.TextChoices):
        SPIKE = "spike", "Use well above usual"
        CONTINUOUS = "continuous", "Continuous use"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    class ClosedHow(models.TextChoices):
        AUTO = "auto", "Use fell back under the threshold"
        STAFF = "staff", "Closed by staff"

    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="leak_episodes")
    rule = models.CharField(max_length=12, choices=Rule.choices)
    # The use counted in `m3_since` runs from `started` (the reading before the unusual use) to
    # `last_read_at` (the latest reading that still showed it).
    started = models.DateTimeField()
    first_read_at = models.DateTimeField()
    last_read_at = models.DateTimeField()
    m3_since = models.DecimalField(**M3)
    # What the opening reading was compared with (m³ for its period; the floor per day for continuous use).
    threshold = models.DecimalField(**M3)
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_how = models.CharField(max_length=8, choices=ClosedHow.choices, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    close_note = models.CharField(max_length=300, blank=True)
    # Set once, when the client reports it from the alert's link (fieldwork makes the request).
    reported_at = models.DateTimeField(null=True, blank=True)
    report_reference = models.CharField(max_length=20, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [models.UniqueConstraint(fields=["meter"], condition=models.Q(state="open"),
                                               name="one_open_leak_episode_per_meter")]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.rule} since {self.started:%Y-%m-%d} ({self.state})"
