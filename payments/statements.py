"""M-Pesa statement upload (reconciliation): the Org portal's CSV export, read tolerantly, compared
with the M-Pesa payments we hold for a date range. Payments the statement has and we lack (their
callback never arrived) are recorded; the other differences are listed for a person to judge.

The export (org.ke.m-pesa.com → Org statements → CSV) starts with a few lines about the
organisation and the period, then a header row, then one row per transaction:

    Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,
    Balance,Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.[,Currency]

Times are Nairobi time, `2026-11-02 14:03:11` (or day first, `02-11-2026 14:03:11`, once a
spreadsheet has been through Excel). A customer's payment is a Completed row with Paid In; its
charge is a separate Withdrawn row under the same receipt.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q

from accounts.services import audit
from majismart.uploads import decode_text
from payments.dates import NAIROBI, payment_time_plausible
from payments.matching import client_for_account
from payments.models import Payment
from payments.services import payment_record

MAX_DAYS = 93
MAX_BYTES = 20 * 1024 * 1024
HEADER_WITHIN_LINES = 50

MSG_NO_HEADER = ("No M-Pesa statement header found: export the statement from the M-Pesa Org portal as CSV "
                 "(a line must name the columns Receipt No., Completion Time and Paid In).")
MSG_EXCEL = "This is an Excel file: export the statement as CSV (or save it as CSV) and upload that."
MSG_NOT_TEXT = "This file is not a CSV text file."
MSG_TOO_BIG = "The file is larger than 20 MB: export a shorter period."
MSG_RANGE_ORDER = "The start date is after the end date."
MSG_RANGE_LONG = f"Choose at most {MAX_DAYS} days at a time."
MSG_RECEIPT = "No receipt number (or not a valid one): “{value}”."
MSG_TIME = "Completion time “{value}” is not a date and time (2026-11-02 14:03:11 or 02-11-2026 14:03:11)."
MSG_AMOUNT = "{column} “{value}” is not an amount."
MSG_DUPLICATE = "Receipt {receipt} appears twice in this statement (first on line {line})."

# Normalised header names (lower case, punctuation to spaces): "A/C No." → "a c no".
COLUMNS: dict[str, tuple[str, ...]] = {
    "receipt": ("receipt no", "receipt number", "receipt", "transaction id"),
    "completed": ("completion time", "completion date"),
    "initiated": ("initiation time",),
    "details": ("details", "description"),
    "status": ("transaction status", "status"),
    "paid_in": ("paid in",),
    "withdrawn": ("withdrawn",),
    "reason": ("reason type",),
    "other_party": ("other party info", "other party"),
    "account": ("a c no", "ac no", "account no", "account number", "acc no"),
}
REQUIRED = ("receipt", "completed", "paid_in")

# Money in that is not a customer paying: reversals, transfers between the organisation's own
# accounts, settlements; charges are normally Withdrawn rows but are named here too.
NOT_A_PAYMENT = re.compile(r"\b(charges?|reversal|reversed|settlement|transfer|commission|interest|withdrawal)\b", re.I)
RECEIPT_RE = re.compile(r"^[A-Z0-9]{6,30}$")
# "Pay Bill Online from 2547****149 - JOHN DOE Acc. ACC 12": the first "Acc." ends the payer and
# starts what the payer typed (which may itself hold spaces, or "ACC").
ACCOUNT_IN_DETAILS = re.compile(r"(?:^|\s)Acc\.\s*(.*?)\s*$", re.I)
PAYER_IN_DETAILS = re.compile(r"\bfrom\s+(.+?)\s+-\s+(.+?)(?:\s+Acc\..*)?$", re.I)
DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%Y/%m/%d", "%d.%m.%Y")
TIME_FORMATS = ("%H:%M:%S", "%H:%M")


class StatementError(ValueError):
    """The file as a whole cannot be read as an M-Pesa statement."""


@dataclass(frozen=True)
class StatementPayment:
    line: int
    receipt: str
    paid_at: datetime
    amount: Decimal
    account_reference: str
    payer: str
    payer_name: str


@dataclass(frozen=True)
class RowError:
    line: int
    receipt: str
    message: str


@dataclass
class ParsedStatement:
    payments: list[StatementPayment] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0  # data rows after the header, blank lines not counted
    not_payments: int = 0  # withdrawals, charges, transfers, not completed
    receipts_seen: set[str] = field(default_factory=set)  # every completed payment's receipt, errors included


# --- reading the file --------------------------------------------------------------------------
def _text(upload: Any) -> str:
    data = upload if isinstance(upload, (bytes, str)) else upload.read()
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    if data[:4] == b"PK\x03\x04" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise StatementError(MSG_EXCEL)
    if b"\x00" in data[:4096]:
        raise StatementError(MSG_NOT_TEXT)
    return decode_text(data).lstrip("\ufeff")


def _name(cell: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", cell.replace("\ufeff", "").lower()).strip()


def _mapping(row: list[str]) -> dict[str, int] | None:
    names = [_name(cell) for cell in row]
    mapping: dict[str, int] = {}
    for key, aliases in COLUMNS.items():
        for i, name in enumerate(names):
            if name in aliases and key not in mapping and i not in mapping.values():
                mapping[key] = i
                break
    return mapping if all(key in mapping for key in REQUIRED) else None


def _find_header(text: str) -> tuple[Any, dict[str, int]]:
    """The csv reader positioned after the header row, and the column of each field. Tries the
    comma first, then the semicolon and tab a spreadsheet in another locale may have used."""
    for delimiter in (",", ";", "\t"):
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        for row in reader:
            mapping = _mapping(row)
            if mapping is not None:
                return reader, mapping
            if reader.line_num >= HEADER_WITHIN_LINES:
                break
    raise StatementError(MSG_NO_HEADER)


def _money(raw: str) -> Decimal | None:
    text = re.sub(r"[\s,\u00a0]", "", raw or "")
    text = re.sub(r"^(?:KES|KSHS?)\.?", "", text, flags=re.I)
    negative = text.startswith("(") and text.endswith(")")
    text = text.strip("()")
    if text in ("", "-"):
        return None
    value = Decimal(text)  # InvalidOperation when it is not a number
    if not value.is_finite():
        raise InvalidOperation
    return (-value if negative else value).quantize(Decimal("0.01"))


def _when(raw: str) -> datetime:
    text = " ".join((raw or "").replace("T", " ").split())
    for day_format in DATE_FORMATS:
        for time_format in TIME_FORMATS:
            try:
                moment = datetime.strptime(text, f"{day_format} {time_format}").replace(tzinfo=NAIROBI)
            except ValueError:
                continue
            # A year mistyped in the statement (0001) would be stored and break the pages showing it.
            if not payment_time_plausible(moment):
                raise ValueError(text)
            return moment
    raise ValueError(text)


def _payer(other_party: str, details: str) -> tuple[str, str]:
    """("2547****149", "JOHN DOE") from Other Party Info, else from Details."""
    if " - " in other_party:
        number, name = other_party.split(" - ", 1)
        return number.strip(), name.strip()
    if other_party.strip():
        return other_party.strip(), ""
    found = PAYER_IN_DETAILS.search(details)
    return (found.group(1).strip(), found.group(2).strip()) if found else ("", "")


def _account(given: str, details: str) -> str:
    if given.strip():
        return given.strip()
    found = ACCOUNT_IN_DETAILS.search(details)
    return found.group(1) if found else ""


def _is_transaction(cell: dict[str, str]) -> bool:
    """False for a totals line under the rows and for anything not Completed."""
    if not cell["receipt"] and not (cell["completed"] or cell.get("initiated")):
        return False
    status = cell.get("status", "").lower()
    return not status or status == "completed"


def _row(row: list[str], mapping: dict[str, int], line: int, parsed: ParsedStatement) -> StatementPayment | None:
    """One data row: a customer payment, or None (not a payment, or an error put on `parsed`)."""
    cell = {key: (row[i].strip() if i < len(row) else "") for key, i in mapping.items()}
    receipt = cell["receipt"].upper()
    if not _is_transaction(cell):
        parsed.not_payments += 1
        return None
    try:
        paid_in = _money(cell["paid_in"])
    except InvalidOperation:
        parsed.receipts_seen.add(receipt)
        parsed.errors.append(RowError(line, receipt, MSG_AMOUNT.format(column="Paid In", value=cell["paid_in"])))
        return None
    try:
        withdrawn = _money(cell.get("withdrawn", ""))
    except InvalidOperation:
        withdrawn = None  # only ever used to tell a payment from a withdrawal; Paid In decides
    kind = cell.get("reason") or cell.get("details", "").split(" from ")[0]
    if not paid_in or paid_in < 0 or withdrawn or NOT_A_PAYMENT.search(kind):
        parsed.not_payments += 1
        return None
    if receipt:
        parsed.receipts_seen.add(receipt)
    if not RECEIPT_RE.match(receipt):
        parsed.errors.append(RowError(line, receipt, MSG_RECEIPT.format(value=cell["receipt"])))
        return None
    raw_time = cell["completed"] or cell.get("initiated", "")
    try:
        paid_at = _when(raw_time)
    except ValueError:
        parsed.errors.append(RowError(line, receipt, MSG_TIME.format(value=raw_time)))
        return None
    payer, payer_name = _payer(cell.get("other_party", ""), cell.get("details", ""))
    return StatementPayment(line=line, receipt=receipt, paid_at=paid_at, amount=paid_in,
                            account_reference=_account(cell.get("account", ""), cell.get("details", "")),
                            payer=payer, payer_name=payer_name)


def statement_parse(upload: Any) -> ParsedStatement:
    """Every row of an M-Pesa statement export (an uploaded file, bytes or text): its customer
    payments, and the rows that could not be read with their line numbers. Raises StatementError
    when the file is not a statement at all."""
    reader, mapping = _find_header(_text(upload))
    parsed = ParsedStatement()
    first_line: dict[str, int] = {}
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        parsed.rows += 1
        payment = _row(row, mapping, reader.line_num, parsed)
        if payment is None:
            continue
        if payment.receipt in first_line:
            parsed.errors.append(RowError(payment.line, payment.receipt, MSG_DUPLICATE.format(
                receipt=payment.receipt, line=first_line[payment.receipt])))
            continue
        first_line[payment.receipt] = payment.line
        parsed.payments.append(payment)
    return parsed


# --- reconciling -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Created:
    line: StatementPayment
    payment: Payment


@dataclass(frozen=True)
class AmountDifference:
    line: StatementPayment
    payment: Payment

    @property
    def difference(self) -> Decimal:
        return self.line.amount - self.payment.amount


@dataclass
class StatementResult:
    date_from: date
    date_to: date
    file_name: str = ""
    rows_read: int = 0
    not_payments: int = 0
    outside_range: int = 0
    in_range: int = 0
    already_recorded: int = 0
    created_matched: list[Created] = field(default_factory=list)
    created_unmatched: list[Created] = field(default_factory=list)
    amount_differences: list[AmountDifference] = field(default_factory=list)
    not_on_statement: list[Payment] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def created(self) -> int:
        return len(self.created_matched) + len(self.created_unmatched)

    def counts(self) -> dict[str, int]:
        return {"rows": self.rows_read, "not_payments": self.not_payments, "outside_range": self.outside_range,
                "in_range": self.in_range, "already_recorded": self.already_recorded,
                "created_matched": len(self.created_matched), "created_unmatched": len(self.created_unmatched),
                "amount_differences": len(self.amount_differences), "not_on_statement": len(self.not_on_statement),
                "row_errors": len(self.errors)}


def statement_range_check(date_from: date, date_to: date) -> None:
    if date_from > date_to:
        raise ValidationError({"date_to": [MSG_RANGE_ORDER]})
    if (date_to - date_from).days + 1 > MAX_DAYS:
        raise ValidationError({"date_to": [MSG_RANGE_LONG]})


def _bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """[start, end) of the range, whole days in Nairobi."""
    return (datetime.combine(date_from, time.min, tzinfo=NAIROBI),
            datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=NAIROBI))


def _ours(start: datetime, end: datetime, receipts: list[str]) -> dict[str, Payment]:
    """Our M-Pesa payments in the range plus any the statement names (a callback's time may sit
    just across the range's edge from the statement's): one query."""
    found = (Payment.objects.filter(method=Payment.Method.MPESA)
             .filter(Q(paid_at__gte=start, paid_at__lt=end) | Q(receipt__in=receipts))
             .select_related("client"))
    return {payment.receipt.upper(): payment for payment in found}


def _record(line: StatementPayment, result: StatementResult, actor: object) -> None:
    client = client_for_account(line.account_reference)
    recorded = payment_record(method=Payment.Method.MPESA, receipt=line.receipt, amount=line.amount,
                              paid_at=line.paid_at, client=client, account_reference=line.account_reference,
                              payer=line.payer, payer_name=line.payer_name, actor=actor)
    if not recorded.created:  # a callback got there between our look and this insert
        _compare(line, recorded.payment, result)
    elif client is not None:
        recorded.payment.client = client  # the page shows it: no query per row
        result.created_matched.append(Created(line, recorded.payment))
    else:
        result.created_unmatched.append(Created(line, recorded.payment))


def _compare(line: StatementPayment, payment: Payment, result: StatementResult) -> None:
    result.already_recorded += 1
    if payment.amount != line.amount:
        result.amount_differences.append(AmountDifference(line, payment))


def statement_reconcile(*, upload: Any, date_from: date, date_to: date, actor: object) -> StatementResult:
    """Compare an M-Pesa statement with our M-Pesa payments over [date_from, date_to] (Nairobi
    days). Payments on the statement that we lack are recorded through `payment_record` (matched
    by account number, or left for reconciliation), so uploading the same statement twice records
    nothing the second time. Amounts that differ and our payments absent from the statement are
    listed, never changed. Unreadable rows are reported with their line numbers; the rest go on.

    Queries: one to compare, then `payment_record`'s own per payment created, then one audit row.
    Raises ValidationError for a bad range and StatementError for a file that is not a statement."""
    statement_range_check(date_from, date_to)
    parsed = statement_parse(upload)
    # No transaction around the whole upload: each payment is recorded in its own (and locks its
    # client only meanwhile), so a failure part-way keeps what was recorded and uploading the
    # statement again finishes the rest.
    start, end = _bounds(date_from, date_to)
    result = StatementResult(date_from=date_from, date_to=date_to, file_name=str(getattr(upload, "name", "") or ""),
                             rows_read=parsed.rows, not_payments=parsed.not_payments, errors=parsed.errors)
    in_range = sorted((p for p in parsed.payments if start <= p.paid_at < end), key=lambda p: (p.paid_at, p.line))
    result.outside_range = len(parsed.payments) - len(in_range)
    result.in_range = len(in_range)
    ours = _ours(start, end, [p.receipt for p in in_range])
    for line in in_range:
        if line.receipt in ours:
            _compare(line, ours[line.receipt], result)
        else:
            _record(line, result, actor)
    result.not_on_statement = sorted(
        (p for receipt, p in ours.items() if start <= p.paid_at < end and receipt not in parsed.receipts_seen),
        key=lambda p: (p.paid_at, p.pk))
    audit(actor=actor, action="payments.statement_reconciled",
          object_repr=f"M-Pesa statement {date_from:%Y-%m-%d} – {date_to:%Y-%m-%d}", file=result.file_name[:200],
          created_amount=str(sum((c.line.amount for c in result.created_matched + result.created_unmatched),
                                 Decimal("0.00"))),
          **result.counts())  # type: ignore[arg-type]  # counters only, none of audit()'s parameters
    return result
