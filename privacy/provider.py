"""Closing a provider's account (platform admins, from Django admin).

1. Close: the provider is suspended (nobody logs in, no job runs for it), every client's
   personal data is erased with their records kept under pseudonyms, staff logins and API keys
   go, and the payment and SMS credentials are blanked. The owner's full export (their right as
   controller) should be taken before.
2. Erase: the retention rules are applied one last time; when no record the law keeps is left,
   the schema is dropped, and every file left under its storage prefix deleted. Until then
   erasing is refused with the date the records run out.
"""

from __future__ import annotations

from datetime import datetime

from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts.models import APIKey, Role, User
from accounts.services import audit, audit_actors_replace
from billing.models import Invoice, LedgerEntry
from clients.models import Client
from majismart.storage import tenant_files_delete
from meters.models import Reading
from notifications.models import NotificationSettings
from payments.models import Payment, PaymentSettings
from privacy.erasure import clients_pseudonymise
from privacy.models import ErasureRecord, RetentionPolicy
from privacy.retention import retention_apply
from tenants.models import Provider, ProviderEvent
from tenants.services import provider_suspend

CLOSED = "closed"


class ProviderClosureError(Exception):
    pass


def is_closed(provider: Provider) -> bool:
    return ProviderEvent.objects.filter(provider=provider, action=CLOSED).exists()


@transaction.atomic
def provider_close(*, provider: Provider, actor: str, reason: str = "") -> dict[str, int]:
    if provider.is_platform or provider.is_template:
        raise ProviderClosureError("The platform itself cannot be closed.")
    if provider.status != Provider.Status.SUSPENDED:
        provider_suspend(provider=provider, actor=actor, reason=f"closed: {reason}".strip(": "))
    with schema_context(provider.schema_name):
        counts = clients_pseudonymise(client_ids=list(Client.objects.values_list("pk", flat=True)), actor=actor,
                                      reason=ErasureRecord.Reason.PROVIDER_CLOSED)
        staff = User.objects.exclude(role=Role.CLIENT)
        emails = list(staff.values_list("email", flat=True))
        audit_actors_replace(actors={email: f"former staff {n}" for n, email in enumerate(emails, start=1)})
        counts["staff_users"] = staff.delete()[0]
        counts["api_keys"] = APIKey.objects.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        PaymentSettings.objects.update(mpesa_consumer_key="", mpesa_consumer_secret="", mpesa_passkey="",
                                       paystack_secret_key="")
        NotificationSettings.objects.update(at_api_key="")
        audit(actor=actor, action="privacy.provider_closed", object_repr=provider.schema_name, category="privacy",
              counts=counts)
    ProviderEvent.objects.create(provider=provider, action=CLOSED, actor=actor,
                                 extra_data={"reason": reason, "counts": counts})
    return counts


def records_kept_until(provider: Provider) -> datetime | None:
    """When the last record the law keeps in this provider's schema runs out (None: none left)."""
    with schema_context(provider.schema_name):
        latest = [
            # A balance brought forward by retention is not a record of its own.
            LedgerEntry.objects.exclude(reference="RETENTION").aggregate(d=Max("booked_on"))["d"],
            Invoice.objects.exclude(issued_on=None).aggregate(d=Max("issued_on"))["d"],
        ]
        moments = [Payment.objects.aggregate(d=Max("paid_at"))["d"], Reading.objects.aggregate(d=Max("read_at"))["d"]]
        latest += [timezone.localdate(m) for m in moments if m is not None]
        days = [d for d in latest if d is not None]
        if not days:
            return None
        years = RetentionPolicy.load().billing_years
        last = max(days)
        until = last.replace(year=last.year + years) if not (last.month == 2 and last.day == 29) \
            else last.replace(year=last.year + years, day=28)
        return timezone.make_aware(datetime.combine(until, datetime.min.time()))


def provider_erase(*, provider: Provider, actor: str, now: datetime | None = None) -> None:
    """Drop a closed provider's schema once retention has run out; refuses before."""
    now = now or timezone.now()
    if not is_closed(provider):
        raise ProviderClosureError(f"{provider.name} is not closed: close it first.")
    with schema_context(provider.schema_name):
        retention_apply(now=now, actor=actor)
        years = RetentionPolicy.load().billing_years
    until = records_kept_until(provider)
    if until is not None and until > now:
        raise ProviderClosureError(
            f"{provider.name}'s billing records must be kept until {timezone.localdate(until):%d %b %Y} "
            f"({years} years after the last one); the schema can be erased after that.")
    schema = provider.schema_name
    audit(actor=actor, action="privacy.provider_erased", object_repr=schema, category="privacy")
    with connection.cursor() as cursor:
        # Checks deferred to the end of this transaction (the last retention run's rows) are
        # made now: PostgreSQL refuses to drop tables with checks pending.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    provider.delete(force_drop=True)

    def remove_files() -> None:
        # What retention left under the schema's prefix (its logo, kept uploads, exports of the
        # whole provider): the schema is gone, nothing may outlive it in the storage.
        with schema_context(schema):
            tenant_files_delete(default_storage)

    transaction.on_commit(remove_files)
