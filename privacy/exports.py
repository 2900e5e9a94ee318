"""Data exports: a client's copy of their data (right of access and portability) and a provider's
full export (its right as controller). Each is a zip holding every dataset twice, as JSON and as
CSV, written table by table from streaming queries (one query per dataset, whatever the size),
stored under the provider's own media folder and downloaded by a secret token until it expires.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast

from django.apps import apps
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from accounts.models import User
from accounts.services import audit
from arrears.models import Disconnection, Instalment, PaymentPlan
from billing.models import Charge, CreditNote, Invoice, InvoiceLine, LedgerEntry
from clients.models import Client
from fieldwork.models import ServiceRequest, ServiceRequestEvent, WorkOrder
from majismart.tenancy import connection
from meters.models import LeakEpisode, Meter, Reading
from notifications.models import Consent, Message
from payments.models import Allocation, Payment, PaymentRequest
from privacy.models import DataExport, DataRequest, PolicyAcceptance, RetentionPolicy

CHUNK = 2000
# The provider's own export leaves out what would let someone act as the provider or its users:
# password hashes, API key hashes, sessions, and the payment and SMS credentials (never shown
# back in full anywhere either).
SECRET_COLUMNS = {
    ("accounts", "user"): {"password"},
    ("accounts", "apikey"): {"hashed_key"},
    ("payments", "paymentsettings"): {"mpesa_consumer_key", "mpesa_consumer_secret", "mpesa_passkey",
                                      "paystack_secret_key"},
    ("notifications", "notificationsettings"): {"at_api_key"},
}
PROVIDER_APPS = ("accounts", "clients", "meters", "billing", "payments", "notifications", "privacy", "fieldwork",
                 "arrears", "selfservice")
SKIPPED_MODELS = {("privacy", "dataexport")}


class ExportError(Exception):
    pass


@dataclass(frozen=True)
class Dataset:
    name: str
    columns: list[str]
    rows: Callable[[], Iterable[tuple[Any, ...]]]


def _plain(value: Any) -> Any:
    """A JSON- and CSV-friendly value: money and volumes as exact strings, times in Nairobi."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return value
    if hasattr(value, "name") and not isinstance(value, str):  # file fields
        return value.name or ""
    return value


def _values(qs: QuerySet, columns: list[str]) -> Callable[[], Iterator[tuple[Any, ...]]]:
    return lambda: qs.values_list(*columns).iterator(chunk_size=CHUNK)


def client_datasets(client: Client) -> list[Dataset]:
    """Everything about one client, and nothing about anyone else."""
    cid = client.pk
    meters = Meter.objects.filter(client_id=cid).order_by("id")
    invoices = Invoice.objects.filter(client_id=cid).exclude(status=Invoice.Status.DRAFT).order_by("period", "id")
    payments = Payment.objects.filter(client_id=cid).order_by("paid_at", "id")
    profile = Client.objects.filter(pk=cid).annotate(category_name=F("category__name"), zone_name=F("zone__name"))
    sets = [
        Dataset("profile", ["account_number", "full_name", "phone", "email", "national_id", "location",
                            "category_name", "zone_name", "status", "opening_balance", "created"],
                _values(profile, ["account_number", "full_name", "phone", "email", "national_id", "location",
                                  "category_name", "zone_name", "status", "opening_balance", "created"])),
        Dataset("meters", ["serial", "status", "installed_on", "initial_reading", "removed_on", "final_reading"],
                _values(meters, ["serial", "status", "installed_on", "initial_reading", "removed_on",
                                 "final_reading"])),
        Dataset("readings", ["meter", "value", "read_at", "consumption", "source", "status", "note"],
                _values(Reading.objects.filter(meter__client_id=cid).order_by("read_at", "id"),
                        ["meter__serial", "value", "read_at", "consumption", "source", "status", "note"])),
        Dataset("leak_alerts", ["meter", "rule", "started", "last_read_at", "m3_since", "state", "closed_at",
                                "report_reference"],
                _values(LeakEpisode.objects.filter(meter__client_id=cid).order_by("created", "id"),
                        ["meter__serial", "rule", "started", "last_read_at", "m3_since", "state", "closed_at",
                         "report_reference"])),
        Dataset("invoices", ["number", "period", "status", "issued_on", "due_date", "consumption", "estimated",
                             "total", "meter_serial", "previous_reading", "current_reading"],
                _values(invoices, ["number", "period", "status", "issued_on", "due_date", "consumption",
                                   "estimated", "total", "meter_serial", "previous_reading", "current_reading"])),
        Dataset("invoice_lines", ["invoice", "kind", "description", "quantity", "unit_price", "amount"],
                _values(InvoiceLine.objects.filter(invoice__in=invoices).order_by("invoice_id", "position"),
                        ["invoice__number", "kind", "description", "quantity", "unit_price", "amount"])),
        Dataset("credit_notes", ["number", "invoice", "amount", "reason", "issued_on"],
                _values(CreditNote.objects.filter(client_id=cid).order_by("id"),
                        ["number", "invoice__number", "amount", "reason", "issued_on"])),
        Dataset("ledger", ["booked_on", "kind", "amount", "reference", "description"],
                _values(LedgerEntry.objects.filter(client_id=cid).order_by("booked_on", "id"),
                        ["booked_on", "kind", "amount", "reference", "description"])),
        Dataset("charges", ["created", "kind", "description", "amount", "note", "invoice"],
                _values(Charge.objects.filter(client_id=cid).order_by("created", "id"),
                        ["created", "kind", "description", "amount", "note", "invoice__number"])),
        Dataset("payment_plans", ["id", "status", "total", "down_payment", "instalment_count", "first_due", "note",
                                  "decline_reason", "paid", "created", "started"],
                _values(PaymentPlan.objects.filter(client_id=cid).order_by("created", "id"),
                        ["id", "status", "total", "down_payment", "instalment_count", "first_due", "note",
                         "decline_reason", "paid", "created", "started"])),
        Dataset("plan_instalments", ["plan", "number", "due_date", "amount", "paid", "status"],
                _values(Instalment.objects.filter(plan__client_id=cid).order_by("plan_id", "number"),
                        ["plan_id", "number", "due_date", "amount", "paid", "status"])),
        Dataset("disconnections", ["status", "notice_date", "balance", "fee", "created", "disconnected_at",
                                   "reconnected_at", "cancel_reason"],
                _values(Disconnection.objects.filter(client_id=cid).order_by("created", "id"),
                        ["status", "notice_date", "balance", "fee", "created", "disconnected_at", "reconnected_at",
                         "cancel_reason"])),
        # Who paid (the payer's M-Pesa name and number) is left out: it may be someone else.
        Dataset("payments", ["receipt", "method", "amount", "paid_at", "status", "account_reference"],
                _values(payments, ["receipt", "method", "amount", "paid_at", "status", "account_reference"])),
        Dataset("allocations", ["payment", "invoice", "amount"],
                _values(Allocation.objects.filter(payment__client_id=cid).order_by("payment_id", "id"),
                        ["payment__receipt", "invoice__number", "amount"])),
        Dataset("payment_requests", ["channel", "amount", "phone", "status", "message", "created"],
                _values(PaymentRequest.objects.filter(client_id=cid).order_by("created", "id"),
                        ["channel", "amount", "phone", "status", "message", "created"])),
        Dataset("messages", ["channel", "event", "recipient", "subject", "text", "status", "created"],
                _values(Message.objects.filter(client_id=cid).order_by("created", "id"),
                        ["channel", "event", "recipient", "subject", "text", "status", "created"])),
        Dataset("consents", ["topic", "granted", "source", "policy_version", "recorded_at"],
                _values(Consent.objects.filter(client_id=cid).order_by("recorded_at", "id"),
                        ["topic", "granted", "source", "policy_version", "recorded_at"])),
        Dataset("service_requests", ["reference", "kind", "channel", "description", "photo", "status", "due_by",
                                     "resolution", "resolved_at", "created"],
                _values(ServiceRequest.objects.filter(client_id=cid).order_by("created", "id"),
                        ["reference", "kind", "channel", "description", "photo", "status", "due_by", "resolution",
                         "resolved_at", "created"])),
        Dataset("service_request_history", ["request", "status", "note", "at"],
                _values(ServiceRequestEvent.objects.filter(request__client_id=cid).order_by("request_id", "at", "id"),
                        ["request__reference", "status", "note", "at"])),
        Dataset("work_orders", ["reference", "kind", "status", "due_on", "instructions", "balance", "done_at",
                                "reading", "note", "photo", "not_done_reason"],
                _values(WorkOrder.objects.filter(client_id=cid).order_by("created", "id"),
                        ["reference", "kind", "status", "due_on", "instructions", "balance", "done_at",
                         "reading__value", "note", "photo", "not_done_reason"])),
        Dataset("privacy_requests", ["kind", "status", "created", "due_at", "resolved_at", "details", "resolution"],
                _values(DataRequest.objects.filter(client_id=cid).order_by("created", "id"),
                        ["kind", "status", "created", "due_at", "resolved_at", "details", "resolution"])),
    ]
    if client.user_id:
        sets.insert(1, Dataset("portal_account", ["email", "full_name", "phone", "date_joined", "last_login"],
                               _values(User.objects.filter(pk=client.user_id),
                                       ["email", "full_name", "phone", "date_joined", "last_login"])))
        sets.append(Dataset("policy_acceptances", ["kind", "version", "source", "accepted_at"],
                            _values(PolicyAcceptance.objects.filter(user_id=client.user_id).order_by("accepted_at"),
                                    ["kind", "version", "source", "accepted_at"])))
    return sets


def provider_datasets() -> list[Dataset]:
    """Every table of the provider's schema, column for column, secrets left out."""
    sets = []
    for model in apps.get_models():
        meta = model._meta
        if meta.app_label not in PROVIDER_APPS or (meta.app_label, meta.model_name) in SKIPPED_MODELS:
            continue
        hidden = SECRET_COLUMNS.get((meta.app_label, cast(str, meta.model_name)), set())
        columns = [f.attname for f in meta.concrete_fields if f.name not in hidden]
        sets.append(Dataset(f"{meta.app_label}_{meta.model_name}", columns,
                            _values(model._default_manager.order_by("pk"), columns)))
    return sets


def _write_dataset(archive: zipfile.ZipFile, dataset: Dataset) -> int:
    """One pass over the rows: JSON straight into the archive, CSV beside it in a spooled file
    (a zip takes one entry at a time), copied in afterwards."""
    count = 0
    with tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", encoding="utf-8", newline="") as csv_out:
        writer = csv.writer(csv_out)
        writer.writerow(dataset.columns)
        with archive.open(f"json/{dataset.name}.json", "w") as raw_json:
            json_out = io.TextIOWrapper(raw_json, encoding="utf-8")
            json_out.write("[")
            for row in dataset.rows():
                plain = [_plain(v) for v in row]
                record = json.dumps(dict(zip(dataset.columns, plain, strict=True)), ensure_ascii=False)
                json_out.write(("," if count else "") + "\n  " + record)
                writer.writerow([json.dumps(v) if isinstance(v, (list, dict)) else ("" if v is None else v)
                                 for v in plain])
                count += 1
            json_out.write("\n]\n")
            json_out.flush()
            json_out.detach()
        csv_out.seek(0)
        with archive.open(f"csv/{dataset.name}.csv", "w") as raw_csv:
            while chunk := csv_out.read(1 << 16):
                raw_csv.write(chunk.encode("utf-8"))
    return count


README = """This archive holds {what}, prepared by {provider} on {when} (Africa/Nairobi time).

Every dataset is here twice: json/<name>.json (a list of records) and csv/<name>.csv (the same
records as a spreadsheet). Money is in Kenya shillings (KES) with two decimals, volumes in cubic
metres (m3), times in Africa/Nairobi.

Datasets and record counts:
{counts}

{provider} is the controller of this data; MajiSmart processes it on its behalf. Questions about
it, or corrections: use the Privacy page of the customer portal, or contact {provider}.
"""


def build_archive(export: DataExport, datasets: list[Dataset], *, what: str, provider_name: str,
                  progress: Callable[[int], None]) -> tuple[str, int, dict[str, int]]:
    counts: dict[str, int] = {}
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for position, dataset in enumerate(datasets, start=1):
                counts[dataset.name] = _write_dataset(archive, dataset)
                progress(int(95 * position / len(datasets)))
            listing = "\n".join(f"  {name}: {n}" for name, n in counts.items())
            archive.writestr("README.txt", README.format(
                what=what, provider=provider_name, counts=listing,
                when=timezone.localtime().strftime("%d %b %Y %H:%M")))
        size = handle.tell()
        handle.seek(0)
        name = default_storage.save(f"exports/{export.token}.zip", File(handle))
    return name, size, counts


# --- services ------------------------------------------------------------------------------------
def _actor_name(actor: object) -> str:
    return str(getattr(actor, "email", actor) or "")


@transaction.atomic
def export_request(*, client: Client | None, actor: object, request: DataRequest | None = None) -> DataExport:
    """Queue an export (of one client, or with client=None of the whole provider), built by Celery."""
    from privacy.tasks import export_build_task

    export = DataExport.objects.create(
        scope=DataExport.Scope.CLIENT if client else DataExport.Scope.PROVIDER, client=client, request=request,
        token=secrets.token_urlsafe(32), requested_by=_actor_name(actor))
    audit(actor=actor, action="privacy.export_requested", object_repr=f"export {export.pk}",
          category="export", target=("client", client.pk) if client else None,
          scope=export.scope)
    transaction.on_commit(lambda: export_build_task.delay(export.pk))
    return export


def export_build(*, export_id: int) -> DataExport:
    """Build the archive (idempotent: a ready or failed export is left as it is)."""
    from tenants.models import Provider

    # Claimed once: a redelivered task (acks_late) finds progress moved on and leaves it.
    claimed = DataExport.objects.filter(pk=export_id, status=DataExport.Status.PENDING, progress=0).update(progress=1)
    export = DataExport.objects.get(pk=export_id)
    if not claimed:
        return export
    provider = Provider.objects.get(schema_name=connection.schema_name)

    def progress(percent: int) -> None:
        DataExport.objects.filter(pk=export_id).update(progress=max(1, percent))

    try:
        if export.client_id:
            client = Client.objects.get(pk=export.client_id)
            datasets = client_datasets(client)
            what = f"the personal data of account {client.account_number}"
        else:
            datasets = provider_datasets()
            what = f"all data of {provider.name}"
        name, size, counts = build_archive(export, datasets, what=what, provider_name=provider.name,
                                           progress=progress)
    except Exception as exc:  # noqa: BLE001 - recorded and shown; the task logs the traceback
        DataExport.objects.filter(pk=export_id, status=DataExport.Status.PENDING).update(
            status=DataExport.Status.FAILED, error=str(exc)[:300])
        raise
    now = timezone.now()
    days = RetentionPolicy.load().export_days
    with transaction.atomic():
        finished = DataExport.objects.filter(pk=export_id, status=DataExport.Status.PENDING).update(
            status=DataExport.Status.READY, path=name, size=size, progress=100, ready_at=now,
            expires_at=now + timedelta(days=days))
        if not finished:  # erased (or expired) while it was being built: the file must not stay
            default_storage.delete(name)
            export.refresh_from_db()
            return export
        if export.request_id:
            DataRequest.objects.filter(pk=export.request_id, status=DataRequest.Status.OPEN).update(
                status=DataRequest.Status.DONE, resolved_at=now, resolved_by="system",
                resolution=f"Export prepared ({sum(counts.values())} records); downloadable for {days} days.")
        audit(actor="system", action="privacy.export_ready", object_repr=f"export {export_id}", category="export",
              target=("client", export.client_id) if export.client_id else None, counts=counts)
    export.refresh_from_db()
    return export


def export_open(*, export: DataExport, actor: object) -> Any:
    """The archive, for a download by its owner; counted and audited."""
    if export.status != DataExport.Status.READY or not export.path:
        raise ExportError("This export is not ready.")
    if export.expires_at and export.expires_at <= timezone.now():
        raise ExportError("This download link has expired. Prepare a new export.")
    DataExport.objects.filter(pk=export.pk).update(downloads=models.F("downloads") + 1)
    audit(actor=actor, action="privacy.export_downloaded", object_repr=f"export {export.pk}", category="export",
          target=("client", export.client_id) if export.client_id else None)
    return default_storage.open(export.path, "rb")
