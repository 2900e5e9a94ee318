"""What arrives from Africa's Talking for self-service: USSD sessions (the menu state between
steps of one dial) and incoming SMS (stored before they are processed)."""

from __future__ import annotations

from django.db import models

from majismart.crypto import EncryptedTextField


class UssdSession(models.Model):
    """One dial of the provider's USSD code: AT posts every step with the same sessionId and the
    answers so far in `text` (joined by "*"); the screen stack lives here between steps, so a
    step is read once and an AT retry of the same step gets the same answer."""

    session_id = models.CharField(max_length=100, unique=True)
    phone_index = models.CharField(max_length=64, db_index=True)  # blind index of the caller's number
    client_id = models.BigIntegerField(null=True, blank=True)  # the account chosen for this session
    state = models.JSONField(default=dict, blank=True)
    consumed = models.PositiveIntegerField(default=0)  # how many of `text`'s answers were applied
    last_text = models.TextField(blank=True)
    last_reply = models.TextField(blank=True)
    steps = models.PositiveIntegerField(default=0)
    ended = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"USSD {self.session_id[:12]}"


class InboundSms(models.Model):
    """An SMS a client sent to the provider's number, as AT delivered it (stored before it is
    processed; AT's `id` is unique, so a retried delivery is answered once)."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        ANSWERED = "answered", "Answered"
        LIMITED = "limited", "Not answered (too many from this phone)"
        IGNORED = "ignored", "Not answered"

    at_id = models.CharField(max_length=100, unique=True)
    phone = EncryptedTextField(blank=True, default="")
    phone_index = models.CharField(max_length=64, blank=True, db_index=True)
    to = models.CharField(max_length=40, blank=True)
    text = EncryptedTextField(blank=True, default="")  # the client's own words: encrypted at rest
    link_id = models.CharField(max_length=100, blank=True)
    sent_at = models.CharField(max_length=40, blank=True)  # AT's `date`, as given
    keyword = models.CharField(max_length=10, blank=True)
    client_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    note = models.CharField(max_length=200, blank=True)
    received = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received"]
        verbose_name = "incoming SMS"
        verbose_name_plural = "incoming SMS"

    def __str__(self) -> str:
        return f"SMS {self.at_id}"
