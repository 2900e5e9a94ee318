"""What a provider tells its clients, and how: SMS (Africa's Talking) and email settings, message
templates, the delivery log, broadcasts and each client's contact preferences.

This app sits below clients (tenants, accounts, notifications → clients → …): a message names
the client it is about by id only, and the apps above compose what to say.
"""

from __future__ import annotations

import secrets
from datetime import time
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy

from majismart.crypto import EncryptedTextField


def new_delivery_token() -> str:
    return secrets.token_urlsafe(24)


def nine_pm() -> time:
    return time(21, 0)


def seven_am() -> time:
    return time(7, 0)


def default_days_before() -> list[int]:
    return [3]


def default_days_after() -> list[int]:
    return [1, 7]


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", gettext_lazy("Email")


class Purpose(models.TextChoices):
    """Why a message is sent, which decides whose consent it needs."""

    BILLING = "billing", "Billing and payments"  # about the client's own account: unless they objected
    SUPPLY = "supply", "Water supply"  # interruptions, works: unless they objected
    ACCOUNT = "account", "Account and security"  # password resets, logins: always
    MARKETING = "marketing", "Other announcements"  # only with consent


class NotificationSettings(models.Model):
    """One row per provider: its Africa's Talking account, email sender, quiet hours and the
    reminder schedule."""

    class Environment(models.TextChoices):
        SANDBOX = "sandbox", "Sandbox (testing)"
        LIVE = "live", "Live"

    class ZeroBill(models.TextChoices):
        NOTHING_TO_PAY = "nothing_to_pay", "Send it, saying there is nothing to pay (and the credit)"
        SKIP = "skip", "Send nothing"

    sms_enabled = models.BooleanField(default=True)
    at_environment = models.CharField(max_length=10, choices=Environment.choices, default=Environment.SANDBOX)
    at_username = models.CharField(max_length=100, blank=True)
    at_api_key = EncryptedTextField(blank=True, default="")
    at_sender_id = models.CharField(max_length=11, blank=True,
                                    help_text="Your registered sender ID or shortcode; empty uses Africa's Talking's.")
    sms_cost_per_segment = models.DecimalField(max_digits=8, decimal_places=4, default=Decimal("0.8000"),
                                               help_text="KES per 160-character part, for cost estimates.")
    email_enabled = models.BooleanField(default=True)
    email_from_name = models.CharField(max_length=100, blank=True, help_text="Empty: the provider's name.")
    email_reply_to = models.EmailField(blank=True)
    quiet_hours = models.BooleanField(default=True, help_text="Hold SMS sent between these times until the end.")
    quiet_start = models.TimeField(default=nine_pm)
    quiet_end = models.TimeField(default=seven_am)
    reminder_hour = models.PositiveSmallIntegerField(default=9, help_text="Hour of the day reminders go out.")
    reminder_days_before = models.JSONField(default=default_days_before, blank=True)
    reminder_days_after = models.JSONField(default=default_days_after, blank=True)
    disconnection_notice_days = models.PositiveSmallIntegerField(
        default=30, help_text="Days after the due date for a disconnection notice; 0 for none.")
    # A bill that leaves the client owing nothing must not ask them to "pay KES 0.00".
    zero_bill_notice = models.CharField(max_length=20, choices=ZeroBill.choices, default=ZeroBill.NOTHING_TO_PAY,
                                        help_text="The bill notice when, after the bill, the client owes nothing.")
    # Secret path segment of the delivery-report URL given to Africa's Talking.
    delivery_token = models.CharField(max_length=64, default=new_delivery_token, editable=False)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "notification settings"

    def __str__(self) -> str:
        return f"SMS {self.at_username or '—'} ({self.at_environment})"

    @classmethod
    def load(cls) -> NotificationSettings:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

    @property
    def sms_ready(self) -> bool:
        return bool(self.sms_enabled and self.at_username and self.at_api_key)


class MessageTemplate(models.Model):
    """A provider's own wording of an event's message (the catalog's default otherwise)."""

    event = models.CharField(max_length=40)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # Each language has its own wording; a client gets the one in their language.
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en", db_default="en")
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    updated_by = models.CharField(max_length=254, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["event", "channel", "language"]
        constraints = [models.UniqueConstraint(fields=["event", "channel", "language"],
                                               name="one_template_per_event_channel_language")]

    def __str__(self) -> str:
        return f"{self.event} ({self.channel}, {self.language})"


class Broadcast(models.Model):
    """A message to many clients at once (a zone, a category, everyone), sent in the background."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Preparing"
        DONE = "done", "Handed over for sending"
        FAILED = "failed", "Failed"

    title = models.CharField(max_length=120)
    purpose = models.CharField(max_length=12, choices=Purpose.choices)
    channels = models.JSONField(default=list)
    sms_text = models.TextField(blank=True)
    email_subject = models.CharField(max_length=200, blank=True)
    email_text = models.TextField(blank=True)
    audience = models.JSONField(default=dict, blank=True)
    audience_label = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    prepared = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_by = models.CharField(max_length=254, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.title


class Message(models.Model):
    """One SMS or email to one recipient: the delivery log. Created in bulk, sent by Celery,
    updated by Africa's Talking's delivery reports."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Not sent"

    channel = models.CharField(max_length=10, choices=Channel.choices)
    event = models.CharField(max_length=40)
    purpose = models.CharField(max_length=12, choices=Purpose.choices)
    # The client the message is about (no foreign key: this app sits below clients).
    client_id = models.BigIntegerField(null=True, blank=True)
    recipient = EncryptedTextField(blank=True, default="")
    recipient_index = models.CharField(max_length=64, blank=True, db_index=True)
    # Encrypted at rest: what a client is told names them (and their balance, account, phone).
    subject = EncryptedTextField(blank=True, default="")
    text = EncryptedTextField()
    attachments = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # The language it is written in (the recipient's): its email is laid out in it too.
    language = models.CharField(max_length=8, blank=True, default="", db_default="")
    note = models.CharField(max_length=300, blank=True, help_text="Why it waits, failed or was not sent.")
    segments = models.PositiveSmallIntegerField(default=0)
    cost = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    provider_message_id = models.CharField(max_length=80, blank=True)
    network_code = models.CharField(max_length=10, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Not before this time: quiet hours, or the backoff after a failed attempt.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    quiet_hours = models.BooleanField(default=False, help_text="Held during the provider's quiet hours.")
    # One message per event, recipient channel and subject (an invoice, a payment, a reminder
    # day): the job that makes them can run again without sending twice.
    dedup_key = models.CharField(max_length=160, unique=True)
    broadcast = models.ForeignKey(Broadcast, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="message_due",
                         condition=models.Q(status__in=["queued", "sending"])),
            models.Index(fields=["client_id", "created"]),
            models.Index(fields=["provider_message_id"], name="message_provider_id",
                         condition=~models.Q(provider_message_id="")),
            models.Index(fields=["broadcast", "status"]),
            models.Index(fields=["created"]),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.event} ({self.status})"


class DeliveryReport(models.Model):
    """An Africa's Talking delivery report as it arrived (stored before it is applied)."""

    body = EncryptedTextField(blank=True, default="")  # carries the phone number
    provider_message_id = models.CharField(max_length=80, blank=True, db_index=True)
    status = models.CharField(max_length=30, blank=True)
    failure_reason = models.CharField(max_length=60, blank=True)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="reports")
    received = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received"]

    def __str__(self) -> str:
        return f"{self.provider_message_id} {self.status}"


class Consent(models.Model):
    """A client's choice about being contacted, appended as it is made (the latest per purpose
    holds). Without a row: SMS and email about their account go out, other announcements don't."""

    class Topic(models.TextChoices):
        SMS = "sms", gettext_lazy("SMS about my account and supply")
        EMAIL = "email", gettext_lazy("Email about my account and supply")
        MARKETING = "marketing", gettext_lazy("Other announcements and offers")
        # Set by the cookie banner and the privacy centre, not by the message preferences.
        ANALYTICS = "analytics", gettext_lazy("Analytics cookies and usage measurement")

    client_id = models.BigIntegerField()
    topic = models.CharField(max_length=12, choices=Topic.choices)
    granted = models.BooleanField()
    source = models.CharField(max_length=20, help_text="portal, staff, api, import")
    policy_version = models.CharField(max_length=20, blank=True)
    recorded_by = models.CharField(max_length=254, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["client_id", "topic", "-recorded_at", "-id"]
        indexes = [models.Index(fields=["client_id", "topic", "-recorded_at"])]

    def __str__(self) -> str:
        return f"{self.client_id} {self.topic} {'yes' if self.granted else 'no'}"


DEFAULT_TOPICS: dict[str, bool] = {Consent.Topic.SMS: True, Consent.Topic.EMAIL: True, Consent.Topic.MARKETING: False,
                  Consent.Topic.ANALYTICS: False}
# The topics of the SMS and email preferences (portal "Messages", the client page): analytics
# is chosen in the cookie banner and the privacy centre, so these forms neither show nor reset it.
CONTACT_TOPICS = (Consent.Topic.SMS, Consent.Topic.EMAIL, Consent.Topic.MARKETING)
