"""Client register from a spreadsheet (CSV): every row checked, valid rows imported, each bad
row reported with its line number. Account numbers absent from the file are generated."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from accounts.services import audit
from clients.models import Client
from clients.services import account_numbers_reserve
from clients.signals import clients_registered
from clients.validation import MSG_ACCOUNT_TAKEN, References, clean_client

ALIASES = {
    "account_number": ("account_number", "account", "account no", "acc no"),
    "full_name": ("full_name", "name", "client", "client name"),
    "phone": ("phone", "phone number", "mobile", "tel"),
    "email": ("email", "e-mail"),
    "national_id": ("national_id", "id number", "national id", "id no"),
    "category": ("category", "type"),
    "zone": ("zone", "route"),
    "location": ("location", "plot", "address"),
    "status": ("status",),
    "opening_balance": ("opening_balance", "balance", "opening balance", "arrears"),
}
MSG_HEADER = "The first line must name the columns; at least full_name and category are needed."
MSG_DUPLICATE_IN_FILE = "Account number {value} appears more than once in this file (first on line {line})."
BATCH = 2000


class ClientImportError(ValueError):
    pass


@dataclass
class ClientImportSummary:
    rows: int = 0
    valid: int = 0
    created: int = 0
    opening_balance_total: object = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # the first `max_errors`

    @property
    def error_count(self) -> int:
        return self.rows - self.valid


def _mapping(header: list[str]) -> dict[str, int]:
    names = [h.strip().lower().lstrip("\ufeff") for h in header]
    mapping = {}
    for key, aliases in ALIASES.items():
        for i, name in enumerate(names):
            if name in aliases and key not in mapping:
                mapping[key] = i
    if not {"full_name", "category"} <= set(mapping):
        raise ClientImportError(MSG_HEADER)
    return mapping


def clients_import(lines: Iterable[str], *, actor: object, dry_run: bool = False, max_errors: int = 500) -> ClientImportSummary:
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header:
        raise ClientImportError(MSG_HEADER)
    mapping = _mapping(header)
    refs = References.load()
    summary = ClientImportSummary()
    valid: list[tuple[int, dict]] = []
    seen: dict[str, int] = {}
    given = []
    for line_no, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        summary.rows += 1
        raw = {key: (row[i] if i < len(row) else "") for key, i in mapping.items()}
        cleaned, errors = clean_client(raw, refs)
        account = cleaned.get("account_number") or ""
        if account:
            if account in seen:
                errors.setdefault("account_number", []).append(MSG_DUPLICATE_IN_FILE.format(value=account, line=seen[account]))
            else:
                seen[account] = line_no
                given.append(account)
        if errors:
            if len(summary.errors) < max_errors:
                summary.errors.append({"line": line_no, "errors": errors})
            continue
        valid.append((line_no, cleaned))
    # Account numbers already in the register: one query for the whole file.
    taken = set(Client.objects.filter(account_number__in=given).values_list("account_number", flat=True))
    if taken:
        kept = []
        for line_no, cleaned in valid:
            if cleaned.get("account_number") in taken:
                summary.errors.append({"line": line_no, "errors": {
                    "account_number": [MSG_ACCOUNT_TAKEN.format(value=cleaned["account_number"])]}})
            else:
                kept.append((line_no, cleaned))
        valid = kept
        summary.errors.sort(key=lambda e: e["line"])
    summary.valid = len(valid)
    summary.opening_balance_total = sum((c["opening_balance"] for _, c in valid), start=0)
    if dry_run or not valid:
        return summary
    with transaction.atomic():
        fresh = iter(account_numbers_reserve(sum(1 for _, c in valid if not c.get("account_number")), skip=given))
        objects = []
        for _, cleaned in valid:
            client = Client(**{**cleaned, "account_number": cleaned.get("account_number") or next(fresh)})
            client.fill_indexes()
            objects.append(client)
        Client.objects.bulk_create(objects, batch_size=BATCH)
        clients_registered.send(sender=Client, clients=objects, actor=actor)
        summary.created = len(objects)
        audit(actor=actor, action="clients.imported", object_repr=f"{len(objects)} clients",
              opening_balance_total=str(summary.opening_balance_total))
    return summary
