"""Arrears: payment plans, the disconnection rule and its candidates, disconnections and
reconnections (work orders through fieldwork), bad-debt write-offs."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy

from billing.models import KES
from clients.models import Client
from fieldwork.models import WorkOrder


class ArrearsSettings(models.Model):
    """One row per provider: its disconnection rule, notice and plan grace. (What a disconnected
    client is billed is billing's: BillingSettings.disconnected_fixed_charges, set on the same page.)"""

    # A client is put up for disconnection when it owes more than `disconnect_above` and its
    # oldest unpaid bill has been due for more than `disconnect_after_days` days.
    disconnect_after_days = models.PositiveSmallIntegerField(default=30)
    disconnect_above = models.DecimalField(**KES, default=Decimal("500.00"))
    notice_days = models.PositiveSmallIntegerField(default=7)  # from the notice to the disconnection date
    plan_grace_days = models.PositiveSmallIntegerField(default=7)  # an instalment unpaid this long breaks the plan
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "arrears settings"

    def __str__(self) -> str:
        return "Disconnection rule and payment plans"

    @classmethod
    def load(cls) -> ArrearsSettings:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class PaymentPlan(models.Model):
    """An arrears agreement: the client's balance when it was made, paid in monthly instalments
    (after an optional down payment). Payments recorded after `created` count towards the
    instalments, oldest first."""

    class Status(models.TextChoices):
        REQUESTED = "requested", gettext_lazy("Requested by the client")
        ACTIVE = "active", gettext_lazy("Active")
        COMPLETED = "completed", gettext_lazy("Completed")
        BROKEN = "broken", gettext_lazy("Broken (an instalment was missed)")
        DECLINED = "declined", gettext_lazy("Declined")

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="payment_plans")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    total = models.DecimalField(**KES)  # the balance when made (asked: when requested)
    down_payment = models.DecimalField(**KES, default=Decimal("0.00"))
    instalment_count = models.PositiveSmallIntegerField()
    first_due = models.DateField()
    note = models.TextField(blank=True)  # the client's words with a request
    decline_reason = models.CharField(max_length=300, blank=True)
    paid = models.DecimalField(**KES, default=Decimal("0.00"))  # payments counted so far
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)  # made or approved: payments after it count
    ended = models.DateTimeField(null=True, blank=True)  # completed, broken or declined
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            # A client has one plan running (or asked for) at a time.
            models.UniqueConstraint(fields=["client"], condition=models.Q(status__in=["active", "requested"]),
                                    name="one_open_plan_per_client"),
        ]

    def __str__(self) -> str:
        return f"Plan {self.pk} for {self.client_id}"


class Instalment(models.Model):
    """One amount of a plan due on a day; number 0 is the down payment (due the day the plan starts)."""

    class Status(models.TextChoices):
        DUE = "due", gettext_lazy("Due")
        PAID = "paid", gettext_lazy("Paid")
        MISSED = "missed", gettext_lazy("Missed")

    plan = models.ForeignKey(PaymentPlan, on_delete=models.CASCADE, related_name="instalments")
    number = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    amount = models.DecimalField(**KES)
    paid = models.DecimalField(**KES, default=Decimal("0.00"))
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DUE)

    class Meta:
        ordering = ["plan", "number"]
        constraints = [models.UniqueConstraint(fields=["plan", "number"], name="one_instalment_number_per_plan")]

    def __str__(self) -> str:
        return f"{self.plan_id} #{self.number}"


class Disconnection(models.Model):
    """A client's way through disconnection: notice, work order on the date, disconnected, and
    back: reconnection ordered once it has paid what the rule requires, reconnected."""

    class Status(models.TextChoices):
        NOTICE = "notice", "Notice sent"
        ORDERED = "ordered", "Work order open"
        DISCONNECTED = "disconnected", "Disconnected"
        NOT_DONE = "not_done", "Could not disconnect"
        CANCELLED = "cancelled", "Cancelled (paid or on a plan)"
        RECONNECT_ORDERED = "reconnect_ordered", "Reconnection ordered"
        RECONNECTED = "reconnected", "Reconnected"

    OPEN = ("notice", "ordered")  # before the meter is shut: a payment or a plan still cancels it

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="disconnections")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NOTICE, db_index=True)
    notice_date = models.DateField()  # the date given in the notice: the work order is opened on it
    balance = models.DecimalField(**KES)  # owed when started
    fee = models.DecimalField(**KES, default=Decimal("0.00"))  # the reconnection fee charged when disconnected
    disconnect_order = models.ForeignKey(WorkOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reconnect_order = models.ForeignKey(WorkOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    cancel_reason = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    reconnected_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            # One disconnection under way per client (a second start is refused, a retried one finds it).
            models.UniqueConstraint(fields=["client"],
                                    condition=models.Q(status__in=["notice", "ordered", "disconnected",
                                                                   "reconnect_ordered"]),
                                    name="one_disconnection_under_way_per_client"),
        ]

    def __str__(self) -> str:
        return f"Disconnection {self.pk} of {self.client_id}"
