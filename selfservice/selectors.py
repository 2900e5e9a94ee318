"""Reads for self-service: who is calling, in which language, what they owe and their last bill."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError

from accounts.languages import provider_default
from billing.models import Invoice
from billing.selectors import client_balance
from clients.models import Client
from majismart.crypto import blind_index
from majismart.phones import normalize_phone
from majismart.tenancy import connection
from meters.models import Meter
from selfservice.texts import lang_of


def phone_e164(raw: str) -> str:
    """The caller's number as E.164 (AT sends "+2547…"), or "" when it is no Kenyan number."""
    try:
        return normalize_phone(raw)
    except ValidationError:
        return ""


def masked(phone: str) -> str:
    """What log lines show of a phone: +2547****678."""
    return f"{phone[:5]}****{phone[-3:]}" if len(phone) >= 9 else "****"


def clients_of_phone(e164: str) -> list[Client]:
    """The accounts whose phone is this number (the blind index; closed accounts left out),
    by account number."""
    if not e164:
        return []
    return list(Client.objects.filter(phone_index=blind_index(e164)).exclude(status=Client.Status.CLOSED)
                .order_by("account_number"))


def provider_language() -> str:
    """The provider's default language (Settings → Provider details; accounts.languages)."""
    return lang_of(provider_default())


def language_of(clients: list[Client]) -> str:
    """The client's own language; for several accounts on one phone, the first one that has one;
    blank: the provider's default."""
    for client in clients:
        if client.language:
            return lang_of(client.language)
    return provider_language()


def provider_name() -> str:
    return str(getattr(connection.tenant, "name", ""))[:30]


def contact_for(lang: str) -> str:
    """" on 0712 000 000" / " kupitia 0712 000 000": the provider's phone (or email), or ""."""
    tenant = connection.tenant
    contact = str(getattr(tenant, "contact_phone", "") or getattr(tenant, "contact_email", "") or "")
    if not contact:
        return ""
    return f" kupitia {contact}" if lang == "sw" else f" on {contact}"


@dataclass(frozen=True)
class LastBill:
    number: str
    period: str
    total: Decimal
    due_date: date | None


def last_bill(client: Client) -> LastBill | None:
    invoice = (Invoice.objects.filter(client=client, status=Invoice.Status.ISSUED)
               .order_by("-period", "-issued_on", "-id").only("number", "period", "total", "due_date").first())
    if invoice is None:
        return None
    return LastBill(invoice.number or "", invoice.period, invoice.total, invoice.due_date)


def balance(client: Client) -> Decimal:
    return client_balance(client.pk)


def active_meters(clients: list[Client]) -> list[Meter]:
    return list(Meter.objects.filter(client__in=clients, status=Meter.Status.ACTIVE).order_by("serial"))
