"""Erasing a client's personal data while keeping what the law requires.

What no law requires us to keep goes at once: contact details, national ID, address, the portal
login, the message log, raw payment callbacks, payer names and numbers, reading photos, stored
bill PDFs (re-rendered on demand under the pseudonym), exports, log-in attempts. Bills, payments,
the ledger and meter readings stay for the retention period (7 years by default) under a
pseudonym, so every balance is unchanged; the retention job erases them when it ends.

A few set-based statements per table, whatever the client's history; idempotent (a second call
finds the record and does nothing).
"""

from __future__ import annotations

import secrets
from typing import cast

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from accounts.models import User
from accounts.services import audit, audit_actors_replace
from arrears.models import PaymentPlan
from billing.models import Charge, Invoice
from clients.models import Client
from fieldwork.models import ServiceRequest, ServiceRequestEvent, WorkOrder
from majismart.crypto import PREFIX, blind_index, decrypt, word_tokens
from majismart.storage import files_delete_on_commit
from meters.models import Reading
from notifications.models import DeliveryReport, Message
from payments.models import CallbackInbox, Payment, PaymentRequest
from privacy.models import DataExport, DataRequest, ErasureRecord, PolicyAcceptance

ERASED_NOTE = "Erased: personal data of the payer removed on request or after retention."


class ErasureError(Exception):
    pass


@transaction.atomic
def client_pseudonymise(*, client: Client, actor: object, reason: str = ErasureRecord.Reason.REQUEST,
                        request: DataRequest | None = None) -> ErasureRecord:
    """Erase `client`'s personal data and put a pseudonym in place of their identity."""
    clients_pseudonymise(client_ids=[client.pk], actor=actor, reason=reason, request=request)
    return ErasureRecord.objects.get(client_id=client.pk)


@transaction.atomic
def clients_pseudonymise(*, client_ids: list[int], actor: object, reason: str = ErasureRecord.Reason.REQUEST,
                         request: DataRequest | None = None) -> dict[str, int]:
    """The same for many clients at once (a provider closing): a few statements per table for
    the whole set. Clients already erased are left as they are. Returns what was removed."""
    ids = list(Client.objects.select_for_update().filter(pk__in=client_ids)
               .exclude(pk__in=ErasureRecord.objects.values("client_id")).order_by("pk").values_list("pk", flat=True))
    if not ids:
        return {}
    pseudonyms = _pseudonyms(len(ids))
    counts: dict[str, int] = {"clients": len(ids)}
    users = User.objects.filter(client__pk__in=ids)
    user_ids = list(users.values_list("pk", flat=True))
    pseudonym_of = dict(zip(ids, pseudonyms, strict=True))
    # Their own logins only: a contact email on the account may be someone else's login (a
    # relative, a member of staff), whose history stays theirs.
    actor_by_email = {email: pseudonym_of[client_id] for email, client_id in users.values_list("email", "client__pk")}
    emails = set(actor_by_email)
    # Every address they were written to (contact details and logins), to find messages that
    # name no client (password resets).
    addresses = {blind_index(v) for pair in Client.objects.filter(pk__in=ids).values_list("phone", "email")
                 for v in pair if v} | {blind_index(e) for e in emails}
    own_refs = _callback_references(ids)

    # The accounts themselves: the number stays (bills and the ledger are filed under it).
    erased = []
    for client_id, pseudonym in zip(ids, pseudonyms, strict=True):
        name = f"Erased client {pseudonym}"
        erased.append(Client(pk=client_id, full_name=name, name_tokens=word_tokens(name), phone="", phone_index="",
                             email="", email_index="", national_id="", national_id_index="", location="",
                             status=Client.Status.CLOSED, user=None))
    Client.objects.bulk_update(erased, ["full_name", "name_tokens", "phone", "phone_index", "email", "email_index",
                                        "national_id", "national_id_index", "location", "status", "user"],
                               batch_size=1000)

    # Portal logins, their log-in attempts and policy acceptances.
    counts["policy_acceptances"] = PolicyAcceptance.objects.filter(user_id__in=user_ids).delete()[0]
    counts["portal_users"] = len(user_ids)
    User.objects.filter(pk__in=user_ids).delete()
    if emails:
        counts["login_attempts"] = (AccessAttempt.objects.filter(username__in=emails).delete()[0]
                                    + AccessLog.objects.filter(username__in=emails).delete()[0]
                                    + AccessFailureLog.objects.filter(username__in=emails).delete()[0])
        # The audit trail keeps what happened but not who the client was.
        counts["audit_rows_pseudonymised"] = audit_actors_replace(actors=actor_by_email)

    # Messages to and about them (recipient, text), and the delivery reports that name the phone.
    messages = Message.objects.filter(Q(client_id__in=ids) | Q(recipient_index__in=addresses))
    counts["delivery_reports"] = DeliveryReport.objects.filter(message__in=messages).delete()[0]
    counts["messages"] = messages.delete()[0]

    # Payments stay (amount, receipt, date, allocation); who paid and from which phone go, and
    # with them the raw callbacks that carried it.
    payments = Payment.objects.filter(client_id__in=ids)
    counts["callbacks_erased"] = CallbackInbox.objects.filter(
        Q(pk__in=payments.exclude(inbox_id=None).values("inbox_id")) | Q(pk__in=_callbacks_naming(own_refs))
    ).update(body="", headers={}, note=ERASED_NOTE)
    counts["payments_pseudonymised"] = payments.update(payer="", payer_name="")
    counts["payment_requests"] = PaymentRequest.objects.filter(client_id__in=ids).update(phone="", phone_index="")

    # Readings (water-usage records) stay; photos of the premises go.
    photos = Reading.objects.filter(meter__client_id__in=ids).exclude(Q(photo="") | Q(photo=None))
    photo_names = cast("list[str]", list(photos.values_list("photo", flat=True)))  # None excluded above
    photos.update(photo="")

    # Service requests and work orders stay as records of the service (kind, dates, status, the
    # reading); what the client wrote, staff notes about the premises and photos go.
    requests = ServiceRequest.objects.filter(client_id__in=ids)
    orders = WorkOrder.objects.filter(client_id__in=ids)
    field_photos = cast("list[str]", [*requests.exclude(Q(photo="") | Q(photo=None)).values_list("photo", flat=True),
                                      *orders.exclude(Q(photo="") | Q(photo=None)).values_list("photo", flat=True)])
    counts["service_requests"] = requests.update(description="", resolution="", photo="")
    ServiceRequestEvent.objects.filter(request__client_id__in=ids).update(note="")
    counts["work_orders"] = orders.update(instructions="", note="", not_done_reason="", photo="")

    # Fees, plans and disconnections stay as records of the account; the words about the person
    # (a charge's note, what the client wrote asking for a plan, why it was declined) go.
    counts["charges"] = Charge.objects.filter(client_id__in=ids).exclude(note="").update(note="")
    counts["payment_plans"] = PaymentPlan.objects.filter(client_id__in=ids).update(note="", decline_reason="")

    # Stored bills carry the name: removed, rendered again under the pseudonym when asked for.
    issued = Invoice.objects.filter(client_id__in=ids, status=Invoice.Status.ISSUED).exclude(number=None)
    pdf_names = [f"invoices/{period}/{number}.pdf" for period, number in issued.values_list("period", "number")]

    # Earlier exports of their data, and what they wrote in requests.
    exports = DataExport.objects.filter(client_id__in=ids)
    export_names = list(exports.exclude(path="").values_list("path", flat=True))
    exports.update(path="", status=DataExport.Status.EXPIRED, requested_by="")
    DataRequest.objects.filter(client_id__in=ids).update(details="", resolution="")

    # Files go once the rows no longer name them (a rollback keeps both), from this provider's
    # prefix even when the commit comes after leaving its schema (closing a provider).
    files_delete_on_commit(photo_names + field_photos + pdf_names + export_names)
    counts.update(reading_photos=len(photo_names), field_photos=len(field_photos), invoice_pdfs=len(pdf_names), exports=len(export_names))

    by = str(getattr(actor, "email", actor) or "")
    ErasureRecord.objects.bulk_create([
        ErasureRecord(client_id=cid, pseudonym=p, reason=reason, request=request, erased_by=by,
                      counts=counts if len(ids) == 1 else {"batch": len(ids)}) for cid, p in zip(ids, pseudonyms, strict=True)])
    if len(ids) == 1:
        audit(actor=actor, action="privacy.client_erased", object_repr=f"client {ids[0]}", category="privacy",
              target=("client", ids[0]), pseudonym=pseudonyms[0], reason=reason, counts=counts)
    else:
        audit(actor=actor, action="privacy.clients_erased", object_repr=f"{len(ids)} clients", category="privacy",
              reason=reason, counts=counts)
    return counts


def _pseudonyms(n: int) -> list[str]:
    """`n` fresh pseudonyms, none already used."""
    made: set[str] = set()
    while len(made) < n:
        batch = {f"PSN-{secrets.token_hex(5).upper()}" for _ in range(n - len(made))}
        taken = set(ErasureRecord.objects.filter(pseudonym__in=batch).values_list("pseudonym", flat=True))
        made |= batch - taken
    return sorted(made)


def _callback_references(client_ids: list[int]) -> set[str]:
    """What a raw callback about these clients carries that names them: account numbers (C2B
    validations and confirmations, duplicates included), M-Pesa receipts, STK checkout ids and
    Paystack references."""
    refs = {a.upper() for a in Client.objects.filter(pk__in=client_ids).values_list("account_number", flat=True)}
    refs |= set(Payment.objects.filter(client_id__in=client_ids).values_list("receipt", flat=True))
    refs |= set(PaymentRequest.objects.filter(client_id__in=client_ids).values_list("reference", flat=True))
    return {r.strip().upper() for r in refs if r and r.strip()}


def _callbacks_naming(refs: set[str]) -> list[int]:
    """The stored callbacks whose body names one of `refs`. Bodies are encrypted, so they are
    read and opened here, a chunk at a time; the retention rule keeps the table to the last
    `callback_days` of callbacks, so this is bounded."""
    import json

    if not refs:
        return []
    found = []
    # The stored token, not the field's clear value: one that no key opens is skipped, not fatal.
    tokens = (CallbackInbox.objects.exclude(body="").annotate(token=Cast("body", output_field=TextField()))
              .values_list("id", "token").iterator(chunk_size=2000))
    for inbox_id, token in tokens:
        try:
            data = json.loads(decrypt(token) if token.startswith(PREFIX) else token)
        except ValueError:
            continue
        if refs & set(_strings(data)):
            found.append(inbox_id)
    return found


def _strings(value: object):  # type: ignore[no-untyped-def]
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, (str, int)):
        yield str(value).strip().upper() if isinstance(value, str) else str(value)
