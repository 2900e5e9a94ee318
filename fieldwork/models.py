"""Work in the field and what clients report: service requests (a leak, no water, a billing
question, a meter fault) and the work orders field staff carry out (disconnect, reconnect, a
visit for a request)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy, pgettext_lazy

from clients.models import Client
from majismart.crypto import EncryptedTextField
from meters.models import Meter, Reading


class FieldSettings(models.Model):
    """One row per provider: its service levels, hours from a request to its due time, by kind."""

    leak_hours = models.PositiveSmallIntegerField(default=24)
    no_water_hours = models.PositiveSmallIntegerField(default=24)
    billing_hours = models.PositiveSmallIntegerField(default=72)
    meter_hours = models.PositiveSmallIntegerField(default=72)
    other_hours = models.PositiveSmallIntegerField(default=120)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "field settings"

    def __str__(self) -> str:
        return "Service levels"

    @classmethod
    def load(cls) -> FieldSettings:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

    def due_after(self, kind: str) -> timedelta:
        return timedelta(hours=getattr(self, f"{kind}_hours"))


class ServiceRequest(models.Model):
    class Kind(models.TextChoices):
        LEAK = "leak", gettext_lazy("Leak")
        NO_WATER = "no_water", gettext_lazy("No water")
        BILLING = "billing", gettext_lazy("Billing question")
        METER = "meter", gettext_lazy("Meter fault")
        OTHER = "other", gettext_lazy("Other")

    class Channel(models.TextChoices):
        PORTAL = "portal", gettext_lazy("Portal")
        PHONE = "phone", gettext_lazy("Phone call")
        OFFICE = "office", gettext_lazy("At the office")
        API = "api", gettext_lazy("API")
        SMS = "sms", gettext_lazy("SMS")
        USSD = "ussd", gettext_lazy("USSD")

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("status", "Open")
        IN_PROGRESS = "in_progress", gettext_lazy("In progress")
        RESOLVED = "resolved", gettext_lazy("Resolved")
        CANCELLED = "cancelled", gettext_lazy("Cancelled")

    reference = models.CharField(max_length=20, unique=True)  # SR-2026-000123 (billing.services.sequence_take)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="service_requests")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.PORTAL)
    description = EncryptedTextField()  # the client's own words: personal data, encrypted at rest
    photo = models.FileField(upload_to="requests/%Y/%m/", null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN, db_index=True)
    due_by = models.DateTimeField()
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    resolution = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_by", "id"]
        # The staff queue: open requests, overdue first.
        indexes = [models.Index(fields=["due_by"], name="request_queue",
                                condition=models.Q(status__in=["open", "in_progress"]))]

    def __str__(self) -> str:
        return self.reference


class ServiceRequestEvent(models.Model):
    """The status history of a request: each change, who made it, when, with a note."""

    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=12, choices=ServiceRequest.Status.choices)
    note = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["request", "at", "id"]

    def __str__(self) -> str:
        return f"{self.request_id} {self.status}"


class WorkOrder(models.Model):
    class Kind(models.TextChoices):
        DISCONNECT = "disconnect", "Disconnect"
        RECONNECT = "reconnect", "Reconnect"
        SERVICE = "service", "Service visit"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        NOT_DONE = "not_done", "Could not complete"
        CANCELLED = "cancelled", "Cancelled"

    reference = models.CharField(max_length=20, unique=True)  # WO-2026-000123 (billing.services.sequence_take)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="work_orders")
    meter = models.ForeignKey(Meter, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    service_request = models.ForeignKey(ServiceRequest, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="work_orders")
    # What made it, once: e.g. "disconnection:42" (arrears), so a retried task never makes two.
    source = models.CharField(max_length=60, unique=True, null=True, blank=True)
    instructions = models.TextField(blank=True)  # directions, what to do
    balance = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)  # the client's balance when ordered
    due_on = models.DateField()
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    done_at = models.DateTimeField(null=True, blank=True)
    reading = models.ForeignKey(Reading, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(blank=True)
    photo = models.FileField(upload_to="work-orders/%Y/%m/", null=True, blank=True)
    not_done_reason = models.CharField(max_length=300, blank=True)
    completed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_on", "id"]
        indexes = [models.Index(fields=["due_on"], name="work_order_open", condition=models.Q(status="open"))]

    def __str__(self) -> str:
        return self.reference
