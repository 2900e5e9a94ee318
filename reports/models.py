"""The figures behind the reports, kept so a page over 100,000 clients and years of history reads
a few hundred rows instead of millions (issue 20).

They are derived, never edited: `reports.refresh.figures_refresh` rebuilds every table here from
the ledger, invoices, payments and readings in one transaction, with the definitions written once
in `reports.refresh`. PostgreSQL marks them out of date in the same transaction as any write to
what they are made of (the `Stale` row, set by statement triggers of migration 0002); a page
reading them refreshes them first when that is quick, or shows the time they were made while a
job brings them up to date (reports.figures.figures_fresh).

The client columns are plain references (no foreign key constraint): an erased or purged client
leaves the figures as they were until the next refresh rebuilds them."""

from __future__ import annotations

from typing import TypedDict

from django.db import models
from django.db.models.functions import Now


class _Digits(TypedDict):
    max_digits: int
    decimal_places: int


KES: _Digits = {"max_digits": 16, "decimal_places": 2}
M3: _Digits = {"max_digits": 16, "decimal_places": 3}


class Stale(models.Model):
    """Present (one row) while something the figures are made of changed since they were made."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    since = models.DateTimeField(db_default=Now())

    def __str__(self) -> str:
        return f"out of date since {self.since}"


class Refresh(models.Model):
    """The one row saying when the figures were last made and how long that took."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"refreshed at {self.refreshed_at}"

    @classmethod
    def load(cls) -> Refresh:
        return cls.objects.get_or_create(pk=1)[0]


class BilledCell(models.Model):
    """A period's issued invoices of one category and zone."""

    period = models.CharField(max_length=7)
    category = models.ForeignKey("clients.Category", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    zone = models.ForeignKey("clients.Zone", null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    invoices = models.PositiveIntegerField()
    total = models.DecimalField(**KES)
    consumption = models.DecimalField(**M3)
    estimated_invoices = models.PositiveIntegerField()
    estimated_consumption = models.DecimalField(**M3)

    class Meta:
        indexes = [models.Index(fields=["period"])]

    def __str__(self) -> str:
        return f"billed {self.period} category {self.category_id} zone {self.zone_id}"


class BilledLine(models.Model):
    """A period's invoice lines of one category and kind (water, sewerage, fixed, meter rent, ...)."""

    period = models.CharField(max_length=7)
    category = models.ForeignKey("clients.Category", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    kind = models.CharField(max_length=20)
    lines = models.PositiveIntegerField()
    amount = models.DecimalField(**KES)

    class Meta:
        indexes = [models.Index(fields=["period"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.period} category {self.category_id}"


class PaymentDay(models.Model):
    """A day's payments (Nairobi calendar day) by method and status."""

    day = models.DateField()
    method = models.CharField(max_length=10)
    status = models.CharField(max_length=10)
    payments = models.PositiveIntegerField()
    amount = models.DecimalField(**KES)

    class Meta:
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"payments {self.day} {self.method} {self.status}"


class UsageCell(models.Model):
    """A calendar month's accepted client-meter readings of one zone and category."""

    period = models.CharField(max_length=7)
    category = models.ForeignKey("clients.Category", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    zone = models.ForeignKey("clients.Zone", null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    meters = models.PositiveIntegerField()  # meters read that month
    zero_meters = models.PositiveIntegerField()  # of them, meters whose month's consumption was 0
    consumption = models.DecimalField(**M3)

    class Meta:
        indexes = [models.Index(fields=["period"])]

    def __str__(self) -> str:
        return f"usage {self.period} category {self.category_id} zone {self.zone_id}"


class TopConsumer(models.Model):
    """The period's biggest bills by volume: the first TOP of them, by rank."""

    period = models.CharField(max_length=7)
    rank = models.PositiveSmallIntegerField()
    client = models.ForeignKey("clients.Client", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    invoice = models.ForeignKey("billing.Invoice", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    consumption = models.DecimalField(**M3)

    class Meta:
        indexes = [models.Index(fields=["period", "rank"])]

    def __str__(self) -> str:
        return f"{self.period} #{self.rank}"


class Position(models.Model):
    """A client owing something: its balance and the due date of its oldest unpaid bill (null
    when no bill of it is unpaid: a charge or opening balance not billed yet)."""

    client = models.OneToOneField("clients.Client", primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    balance = models.DecimalField(**KES)
    oldest_due = models.DateField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["oldest_due", "balance"])]

    def __str__(self) -> str:
        return f"client {self.client_id}: {self.balance}"


class AgingCell(models.Model):
    """The positions of one zone and category with the same oldest unpaid due date, summed: the
    aging buckets are read from these on the day they are asked for."""

    zone = models.ForeignKey("clients.Zone", null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    category = models.ForeignKey("clients.Category", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    oldest_due = models.DateField(null=True, blank=True)
    clients = models.PositiveIntegerField()
    amount = models.DecimalField(**KES)

    def __str__(self) -> str:
        return f"aging zone {self.zone_id} category {self.category_id} {self.oldest_due}"


class MeterRound(models.Model):
    """A meter of the reading round (an active meter of an active client, as the route sheet lists
    them) and when it was last read: the day (Nairobi) of its latest accepted reading, and `since`,
    that day or, never read, the day it was installed. The list of meters not read for a while."""

    meter = models.OneToOneField("meters.Meter", primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False,
                                 related_name="+")
    zone = models.ForeignKey("clients.Zone", null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    last_read_on = models.DateField(null=True, blank=True)
    since = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["since", "meter"])]

    def __str__(self) -> str:
        return f"meter {self.meter_id} read {self.last_read_on}"


class RoundCell(models.Model):
    """The round's meters of one zone last read (or installed, never read) in one month: summed,
    the meters to read per zone; the older months, the meters not read for two periods or more."""

    zone = models.ForeignKey("clients.Zone", null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    since_period = models.CharField(max_length=7)
    meters = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"round zone {self.zone_id} since {self.since_period}"


class ReadCell(models.Model):
    """A calendar month's round meters of one zone with a reading that month (anyone's, not
    rejected): the round's completion."""

    period = models.CharField(max_length=7)
    zone = models.ForeignKey("clients.Zone", null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    meters = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["period"])]

    def __str__(self) -> str:
        return f"read {self.period} zone {self.zone_id}"


class ReaderCell(models.Model):
    """A calendar month's readings captured by one user (None: no user, e.g. an import without
    one), by what became of them."""

    period = models.CharField(max_length=7)
    user = models.ForeignKey("accounts.User", null=True, on_delete=models.DO_NOTHING, db_constraint=False,
                             related_name="+")
    readings = models.PositiveIntegerField()
    accepted = models.PositiveIntegerField()
    flagged = models.PositiveIntegerField()
    rejected = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["period"])]

    def __str__(self) -> str:
        return f"readings {self.period} user {self.user_id}"


class ConnectionCell(models.Model):
    """The clients of one status, with an active meter or not (the regulator's connections and
    metering ratio)."""

    status = models.CharField(max_length=12)
    metered = models.BooleanField()
    clients = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.status} metered={self.metered}: {self.clients}"


class InputCell(models.Model):
    """The system input of a zone in a calendar month: what its bulk meters measured going in
    (meters.selectors.system_input). A zone and month without an accepted bulk reading has none:
    its non-revenue water is unknown, not 0."""

    zone = models.ForeignKey("clients.Zone", null=True, on_delete=models.DO_NOTHING, db_constraint=False,
                             related_name="+")
    period = models.CharField(max_length=7)
    consumption = models.DecimalField(**M3)

    class Meta:
        indexes = [models.Index(fields=["period"])]

    def __str__(self) -> str:
        return f"input {self.period} zone {self.zone_id}"


class ZeroMeter(models.Model):
    """A client meter read in a calendar month whose month's consumption came to 0 m³: the list
    behind UsageCell.zero_meters (the same definition, reports.refresh)."""

    period = models.CharField(max_length=7)
    meter = models.ForeignKey("meters.Meter", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    client = models.ForeignKey("clients.Client", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["period", "meter"])]

    def __str__(self) -> str:
        return f"zero {self.period} meter {self.meter_id}"
