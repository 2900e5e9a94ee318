"""Bank statement import: a provider's bank statement downloaded as CSV, its money-in rows matched
to clients by an account number found in the narrative, previewed, then the payments we lack
recorded as bank payments (allocated, posted, receipts sent as the cash desk's are).

Banks name their columns differently; a header row is looked for in the first lines and read
tolerantly (see COLUMNS). Each credit row gets a stable reference: the bank's own reference when
the file has one, else a digest of its date, amount and narrative, so importing the same file
twice records nothing the second time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.middleware import current_request_context
from accounts.models import AuditCategory, AuditEvent
from accounts.services import actor_label, actor_user, audit
from billing.models import LedgerEntry
from clients.models import Client
from clients.selectors import open_clients_by_account
from clients.services import clients_lock
from majismart.badinput import NUL
from majismart.uploads import decode_text
from payments.models import Allocation, Payment
from payments.receivers import receipts_queue
from payments.services import (
    EARLIEST_PAYMENT,
    NAIROBI,
    _sealed,
    allocate_oldest_first,
    open_balances,
    payments_ledger_link,
)

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
HEADER_WITHIN_LINES = 50

MSG_EMPTY = "The file is empty: download the statement from your bank as CSV and upload that."
MSG_EXCEL = "This is an Excel file: save or download the statement as CSV and upload that."
MSG_PDF = "This is a PDF: download the statement from your bank as CSV (comma-separated) instead."
MSG_NOT_TEXT = "This file is not a CSV text file."
MSG_TOO_BIG = "The file is larger than 5 MB: download a shorter period."
MSG_TOO_MANY = f"The statement has more than {MAX_ROWS} money-in rows: download a shorter period."
MSG_NO_HEADER = ("No header row found: the statement needs a row naming its columns, with at least a date "
                 "(Transaction Date or Value Date), a narrative (Narrative, Description, Details or "
                 "Particulars) and the money in (Credit, Money In or Amount).")
MSG_DATE = "Date “{value}” is not a date (31/10/2026, 2026-10-31 or 31-Oct-2026)."
MSG_NO_DATE = "No date."
MSG_FUTURE = "Dated {value}, in the future."
MSG_EARLY = "Dated {value}, before 1 Jan 2000: check the year."
MSG_AMOUNT = "{column} “{value}” is not an amount."
MSG_AMOUNT_RANGE = "Amount “{value}” is not an amount in KES (above zero, at most 2 decimals)."
MSG_ACCOUNT_UNKNOWN = "No open account has number “{value}”."
MSG_AMBIGUOUS = "Several account numbers in the narrative: {accounts}."

# Normalised header names (lower case, punctuation to spaces, a currency word dropped), each
# field's names in order of preference: "Transaction Date" wins over "Value Date".
COLUMNS: dict[str, tuple[str, ...]] = {
    "date": ("transaction date", "trans date", "txn date", "tran date", "date", "posting date", "post date",
             "booking date", "transaction date time", "date posted", "value date"),
    "narrative": ("narrative", "narration", "description", "transaction description", "details",
                  "transaction details", "particulars", "remarks", "memo"),
    "credit": ("credit", "credits", "credit amount", "money in", "paid in", "deposit", "deposits", "cr",
               "amount", "transaction amount"),
    "debit": ("debit", "debits", "debit amount", "money out", "paid out", "withdrawal", "withdrawals", "dr"),
    "reference": ("reference", "ref", "ref no", "reference no", "reference number", "bank reference",
                  "transaction reference", "transaction ref", "trans ref", "ref number", "transaction id"),
    "drcr": ("dr cr", "cr dr", "debit credit", "d c"),
}
REQUIRED = ("date", "narrative", "credit")
# Signed columns: money in is positive, money out negative (a statement with one amount column).
SIGNED = ("amount", "transaction amount")
CURRENCY_WORDS = re.compile(r"\b(kes|kshs?)\b")
NOT_A_TRANSACTION = re.compile(r"\b(total|totals|opening|closing|balance|brought forward|carried forward|b f|c f)\b",
                               re.I)
DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d-%b-%Y", "%d %b %Y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d",
                "%d/%m/%y", "%d-%b-%y", "%d %B %Y", "%d-%B-%Y", "%d %b %y")
TIME_RE = re.compile(r"^(.*?)[ T]+(\d{1,2}:\d{2}(?::\d{2})?(?:\s*[AaPp][Mm])?)$")
TIME_FORMATS = ("%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p", "%I:%M:%S%p", "%I:%M%p")
# A word of a narrative as an account number may be written: letters and digits, joined by - or /.
WORD_RE = re.compile(r"[A-Z0-9]+(?:[-/][A-Z0-9]+)*")
THOUSANDS = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")
MAX_ACCOUNT = 30  # clients.Client.account_number


class BankStatementError(ValueError):
    """The file as a whole cannot be read as a bank statement."""


@dataclass(frozen=True)
class BankRow:
    line: int
    day: date
    paid_at: datetime
    amount: Decimal
    narrative: str
    reference: str  # as the bank gave it ("" when the file has none)
    key: str  # the payment's receipt: stable for the same row of the same file


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


@dataclass
class ParsedBank:
    rows: list[BankRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    read: int = 0  # data rows after the header, blank lines not counted
    money_out: int = 0  # debits, and lines that are no transaction (balances, totals)


# --- reading the file --------------------------------------------------------------------------
def _text(upload: Any) -> str:
    data = upload if isinstance(upload, (bytes, str)) else upload.read()
    if isinstance(data, str):
        text = data.lstrip("\ufeff")
    else:
        if data[:4] == b"PK\x03\x04" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
            raise BankStatementError(MSG_EXCEL)
        if data[:5] == b"%PDF-":
            raise BankStatementError(MSG_PDF)
        if b"\x00" in data[:4096]:
            raise BankStatementError(MSG_NOT_TEXT)
        text = decode_text(data).lstrip("\ufeff")
    if not text.strip():
        raise BankStatementError(MSG_EMPTY)
    return text


def _name(cell: str) -> str:
    name = re.sub(r"[^a-z0-9]+", " ", cell.replace("\ufeff", "").lower()).strip()
    return " ".join(CURRENCY_WORDS.sub(" ", name).split()) or name


def _mapping(row: list[str]) -> dict[str, int] | None:
    names = [_name(cell) for cell in row]
    mapping: dict[str, int] = {}
    for key, aliases in COLUMNS.items():
        for alias in aliases:
            i = next((i for i, name in enumerate(names) if name == alias and i not in mapping.values()), None)
            if i is not None:
                mapping[key] = i
                break
    return mapping if all(key in mapping for key in REQUIRED) else None


def _find_header(text: str) -> tuple[Any, dict[str, int], bool]:
    """The csv reader positioned after the header row, the column of each field, and whether the
    money-in column is a signed amount. Tries the comma, then the semicolon and the tab."""
    for delimiter in (",", ";", "\t"):
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        for row in reader:
            mapping = _mapping(row)
            if mapping is not None:
                return reader, mapping, _name(row[mapping["credit"]]) in SIGNED
            if reader.line_num >= HEADER_WITHIN_LINES:
                break
    raise BankStatementError(MSG_NO_HEADER)


def _money(raw: str) -> Decimal | None:
    """An amount as banks write it: 1,664.00 / KES 1,664.00 / (1,664.00) / 1,664.00 CR / 1,664.00- ."""
    text = re.sub(r"[\s\u00a0]", "", raw or "").upper()
    text = re.sub(r"^(?:KES|KSHS?)\.?", "", text)
    negative = False
    if text.endswith("DR"):
        negative, text = True, text[:-2]
    elif text.endswith("CR"):
        text = text[:-2]
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1]
    if text.endswith("-") and len(text) > 1:
        negative, text = True, text[:-1]
    elif text.startswith("-") and len(text) > 1:
        negative, text = True, text[1:]
    if text in ("", "-"):
        return None
    if "," in text:
        # Commas only group thousands (1,664.00): "1664,00" is not ours to guess, so not an amount.
        if not THOUSANDS.match(text):
            raise InvalidOperation
        text = text.replace(",", "")
    value = Decimal(text)  # InvalidOperation when it is not a number
    if not value.is_finite():
        raise InvalidOperation
    return -value if negative else value


def _day(raw: str) -> tuple[date, time | None]:
    text = " ".join((raw or "").split())
    clock: time | None = None
    found = TIME_RE.match(text)
    if found:
        text = found.group(1)
        for time_format in TIME_FORMATS:
            try:
                clock = datetime.strptime(found.group(2).upper(), time_format).time()  # noqa: DTZ007 - a clock time only
                break
            except ValueError:
                continue
        else:
            raise ValueError(raw)
    for day_format in DATE_FORMATS:
        try:
            return datetime.strptime(text, day_format).date(), clock  # noqa: DTZ007 - a calendar day only
        except ValueError:
            continue
    raise ValueError(raw)


def _moment(day: date, clock: time | None, now: datetime) -> datetime:
    """When a row's money arrived: its time when the bank gives one, else midday (never later
    than now, which a payment may not be)."""
    return min(datetime.combine(day, clock or time(12, 0), tzinfo=NAIROBI), now)


def _cells(row: list[str], mapping: dict[str, int]) -> dict[str, str]:
    return {key: (row[i].replace(NUL, "").strip() if i < len(row) else "") for key, i in mapping.items()}


def _credit(cell: dict[str, str], signed: bool, line: int, parsed: ParsedBank) -> Decimal | None:
    """The money in of a row, or None (money out, nothing, or an error put on `parsed`)."""
    try:
        credit = _money(cell["credit"])
    except InvalidOperation:
        parsed.errors.append(RowError(line, MSG_AMOUNT.format(column="Money in", value=cell["credit"])))
        return None
    drcr = cell.get("drcr", "").upper()
    if credit is None or credit == 0 or drcr.startswith("D") or (credit < 0 and signed):
        parsed.money_out += 1
        return None
    if credit < 0 or credit != credit.quantize(Decimal("0.01")) or credit >= Decimal("1e10"):
        parsed.errors.append(RowError(line, MSG_AMOUNT_RANGE.format(value=cell["credit"])))
        return None
    return credit.quantize(Decimal("0.01"))


def _row(row: list[str], mapping: dict[str, int], signed: bool, line: int, parsed: ParsedBank,
         now: datetime) -> tuple[date, datetime, Decimal, str, str] | None:
    cell = _cells(row, mapping)
    if not cell["date"] and (not cell["credit"] or NOT_A_TRANSACTION.search(cell["narrative"])):
        parsed.money_out += 1  # a balance or totals line, or a line continuing the one above
        return None
    amount = _credit(cell, signed, line, parsed)
    if amount is None:
        return None
    if not cell["date"]:
        parsed.errors.append(RowError(line, MSG_NO_DATE))
        return None
    try:
        day, clock = _day(cell["date"])
    except ValueError:
        parsed.errors.append(RowError(line, MSG_DATE.format(value=cell["date"])))
        return None
    if day > timezone.localdate(now):
        parsed.errors.append(RowError(line, MSG_FUTURE.format(value=f"{day:%d %b %Y}")))
        return None
    if day < EARLIEST_PAYMENT.date():
        parsed.errors.append(RowError(line, MSG_EARLY.format(value=f"{day:%d %b %Y}")))
        return None
    narrative = " ".join(cell["narrative"].split())
    reference = " ".join(cell.get("reference", "").split())
    return day, _moment(day, clock, now), amount, narrative, reference


def _keys(rows: list[tuple[int, date, datetime, Decimal, str, str]]) -> list[str]:
    """Each row's receipt: the bank's reference (a repeat of it in the file numbered -2, -3...),
    or without one a digest of date, amount and narrative (an identical row numbered too). The
    same file always gives the same keys."""
    seen: Counter[str] = Counter()
    keys: list[str] = []
    taken: set[str] = set()
    for _line, day, _at, amount, narrative, reference in rows:
        if reference:
            base = reference[:64]
            seen[base.upper()] += 1
            n = seen[base.upper()]
            key = base if n == 1 else f"{base[:58]}-{n}"
            while key.upper() in taken:  # "FT1", "FT1" and a row whose own reference is "FT1-2"
                n += 1
                key = f"{base[:58]}-{n}"
        else:
            basis = f"{day.isoformat()}|{amount}|{narrative.upper()}"
            seen[basis] += 1
            key = f"BANK-{hashlib.sha256(f'{basis}|{seen[basis]}'.encode()).hexdigest()[:20].upper()}"
        taken.add(key.upper())
        keys.append(key)
    return keys


def bank_statement_parse(upload: Any, *, now: datetime | None = None) -> ParsedBank:
    """Every money-in row of a bank statement CSV (an uploaded file, bytes or text), and the rows
    that could not be read with their line numbers. Raises BankStatementError when the file is
    not a statement at all."""
    now = now or timezone.now()
    reader, mapping, signed = _find_header(_text(upload))
    parsed = ParsedBank()
    found: list[tuple[int, date, datetime, Decimal, str, str]] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        parsed.read += 1
        values = _row(row, mapping, signed, reader.line_num, parsed, now)
        if values is not None:
            found.append((reader.line_num, *values))
            if len(found) > MAX_ROWS:
                raise BankStatementError(MSG_TOO_MANY)
    parsed.rows = [BankRow(line=line, day=day, paid_at=at, amount=amount, narrative=narrative, reference=ref, key=key)
                   for (line, day, at, amount, narrative, ref), key in zip(found, _keys(found), strict=True)]
    return parsed


# --- matching ----------------------------------------------------------------------------------
def candidates(narrative: str) -> set[str]:
    """The whole words of a narrative an account number could be (upper case): each word, its
    parts between slashes and between hyphens ("FT/MS-0012/JOHN": MS-0012, MS, 0012), and two neighbouring words with or without the space
    ("ACC 00012" for ACC00012)."""
    words = WORD_RE.findall(narrative.upper())
    found: set[str] = set()
    for i, word in enumerate(words):
        found.add(word)
        for part in word.split("/"):
            found.add(part)
            found.update(part.split("-"))
        if i + 1 < len(words):
            found.add(word + words[i + 1])
            found.add(f"{word} {words[i + 1]}")
    return {c for c in found if 0 < len(c) <= MAX_ACCOUNT}


def clients_by_account(wanted: set[str]) -> dict[str, Client]:
    """The open clients (not closed) whose account number, upper-cased, is one of `wanted`: one
    query on the index of UPPER(account_number), the numbers passed as one array."""
    if not wanted:
        return {}
    found = open_clients_by_account(wanted).only("pk", "account_number", "full_name", "status")
    return {client.account_number.upper(): client for client in found}


def _pick(row: BankRow, accounts: dict[str, Client]) -> tuple[Client | None, str]:
    """The client a row's narrative names, or None with a note when it names none or several."""
    hits = {c: accounts[c] for c in candidates(row.narrative) if c in accounts}
    # "MS-0012" found whole and "0012" as its part: the longer one names the client.
    names = sorted(hits, key=len, reverse=True)
    kept = [n for i, n in enumerate(names) if not any(n in longer for longer in names[:i])]
    clients = {hits[n].pk: hits[n] for n in kept}
    if len(clients) == 1:
        return next(iter(clients.values())), ""
    if clients:
        return None, MSG_AMBIGUOUS.format(accounts=", ".join(sorted(c.account_number for c in clients.values())))
    return None, ""


# --- reviewing and recording -------------------------------------------------------------------
@dataclass
class Line:
    row: BankRow
    client: Client | None = None
    assigned: bool = False  # the client was picked by a person, not found in the narrative
    payment: Payment | None = None  # already recorded (or recorded now)
    note: str = ""
    error: str = ""  # a picked account number that is no open account
    typed: str = ""  # the account number a person typed for it


@dataclass
class BankReview:
    file_name: str = ""
    read: int = 0
    money_out: int = 0
    to_create: list[Line] = field(default_factory=list)
    recorded: list[Line] = field(default_factory=list)
    unmatched: list[Line] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    not_on_statement: list[Payment] = field(default_factory=list)
    created: list[Line] = field(default_factory=list)
    first_day: date | None = None
    last_day: date | None = None

    @property
    def to_create_total(self) -> Decimal:
        return sum((line.row.amount for line in self.to_create), Decimal("0.00"))

    @property
    def created_total(self) -> Decimal:
        return sum((line.row.amount for line in self.created), Decimal("0.00"))

    @property
    def assignment_errors(self) -> list[Line]:
        return [line for line in self.unmatched if line.error]

    def counts(self) -> dict[str, int]:
        return {"rows": self.read, "money_out": self.money_out, "created": len(self.created),
                "to_create": len(self.to_create), "already_recorded": len(self.recorded),
                "unmatched": len(self.unmatched), "row_errors": len(self.errors),
                "not_on_statement": len(self.not_on_statement)}


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    return (datetime.combine(first, time.min, tzinfo=NAIROBI),
            datetime.combine(last + timedelta(days=1), time.min, tzinfo=NAIROBI))


def _ours(keys: list[str], first: date, last: date) -> list[Payment]:
    """Our bank payments over the statement's days plus any the statement's references name (a
    payment recorded at the desk may be dated a day off): one query."""
    start, end = _bounds(first, last)
    named = RawSQL("SELECT id FROM payments_payment WHERE method = 'bank' AND upper(receipt) = ANY(%s)",
                   [[k.upper() for k in keys]])
    return list(Payment.objects.filter(method=Payment.Method.BANK)
                .filter(Q(paid_at__gte=start, paid_at__lt=end) | Q(pk__in=named))
                .select_related("client").order_by("paid_at", "pk"))


def _classify(review: BankReview, lines: list[Line], ours: list[Payment]) -> None:
    """Already recorded: a bank payment with the row's reference, or (for a row whose client is
    known) a bank payment of that client, amount and day the statement has no reference of, as
    one typed at the cash desk with the deposit slip's number. Each payment answers one row."""
    by_key = {p.receipt.upper(): p for p in ours}
    keys = {line.row.key.upper() for line in lines}
    used: set[int] = set()
    for line in lines:
        payment = by_key.get(line.row.key.upper())
        if payment is not None:
            line.payment = payment
            used.add(payment.pk)
    pool: dict[tuple[int, Decimal, date], list[Payment]] = defaultdict(list)
    for p in ours:
        if p.pk not in used and p.client_id and p.status == Payment.Status.MATCHED and p.receipt.upper() not in keys:
            pool[(p.client_id, p.amount, timezone.localdate(p.paid_at))].append(p)
    for line in lines:
        if line.payment is None and line.client is not None:
            same = pool.get((line.client.pk, line.row.amount, line.row.day))
            if same:
                line.payment = same.pop(0)
                used.add(line.payment.pk)
    for line in lines:
        if line.payment is not None:
            review.recorded.append(line)
        elif line.client is not None:
            review.to_create.append(line)
        else:
            review.unmatched.append(line)
    start, end = _bounds(review.first_day, review.last_day)  # type: ignore[arg-type]
    review.not_on_statement = [p for p in ours if p.pk not in used and start <= p.paid_at < end]


def bank_statement_review(parsed: ParsedBank, *, assign: dict[int, str] | None = None,
                          file_name: str = "") -> BankReview:
    """What importing the statement would do, writing nothing: each money-in row matched to a
    client (by the narrative, or `assign`: line number → account number typed by a person),
    already recorded, or unmatched; and our bank payments over its days it does not show.
    Two queries: the account numbers, and our bank payments."""
    assign = {line: text.strip() for line, text in (assign or {}).items() if text and text.strip()}
    review = BankReview(file_name=file_name, read=parsed.read, money_out=parsed.money_out, errors=parsed.errors)
    if not parsed.rows:
        return review
    wanted = {c for row in parsed.rows for c in candidates(row.narrative)} | {a.upper() for a in assign.values()}
    accounts = clients_by_account(wanted)
    lines = []
    for row in parsed.rows:
        line = Line(row)
        line.client, line.note = _pick(row, accounts)
        if line.client is None and row.line in assign:
            line.typed = assign[row.line]
            line.client = accounts.get(line.typed.upper())
            line.assigned = line.client is not None
            if line.client is None:
                line.error = MSG_ACCOUNT_UNKNOWN.format(value=assign[row.line][:40])
        lines.append(line)
    review.first_day = min(row.day for row in parsed.rows)
    review.last_day = max(row.day for row in parsed.rows)
    _classify(review, lines, _ours([row.key for row in parsed.rows], review.first_day, review.last_day))
    return review


def _insert(lines: list[Line], actor: object) -> dict[str, int]:
    """The payments, one per receipt whatever else is recorded meanwhile (INSERT … ON CONFLICT
    DO NOTHING): their ids by receipt."""
    now = timezone.now()
    user_id = getattr(actor, "pk", None) or None
    values = [(line.row.key, Payment.Method.BANK, line.row.amount, line.client.pk, Payment.Status.MATCHED,  # type: ignore[union-attr]
               line.row.paid_at, line.client.account_number, _sealed(line.row.narrative[:120]), _sealed(""),  # type: ignore[union-attr]
               user_id, now) for line in lines]
    placeholders = ", ".join(["(%s, %s, %s::numeric, %s::bigint, %s, %s::timestamptz, %s, %s, %s, %s::bigint, "
                              "%s::timestamptz)"] * len(values))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payments_payment (receipt, method, amount, client_id, status, paid_at, account_reference, "  # noqa: S608 - identifiers from our code; values are bound parameters
            f"payer, payer_name, recorded_by_id, created) VALUES {placeholders} "
            "ON CONFLICT (method, receipt) DO NOTHING RETURNING receipt, id",
            [v for row in values for v in row])
        return dict(cursor.fetchall())


def _settle(lines: list[Line], created: dict[str, int], actor: object) -> None:
    """Allocate the new payments oldest invoice first (a client's in date order), post them to
    the ledger and queue their receipts: as payments.services.payment_record does one at a time."""
    user = actor_user(actor)
    fresh = sorted((line for line in lines if line.row.key in created), key=lambda ln: (ln.row.paid_at, ln.row.line))
    Allocation.objects.bulk_create(allocate_oldest_first(
        [(created[ln.row.key], ln.client.pk, ln.row.amount) for ln in fresh],  # type: ignore[union-attr]
        open_balances(sorted({ln.client.pk for ln in fresh}))))  # type: ignore[union-attr]
    entries = LedgerEntry.objects.bulk_create([
        LedgerEntry(client_id=ln.client.pk, kind=LedgerEntry.Kind.PAYMENT, amount=-ln.row.amount,  # type: ignore[union-attr]
                    booked_on=ln.row.day, reference=ln.row.key, description="Bank payment", created_by=user)
        for ln in fresh])
    pairs = [(created[ln.row.key], e.pk) for ln, e in zip(fresh, entries, strict=True)]
    payments_ledger_link(pairs)
    receipts_queue([payment for payment, _ in pairs])  # one task for the import's receipts
    context = current_request_context()
    AuditEvent.objects.bulk_create([AuditEvent(
        actor=actor_label(actor)[:254], action="payment.recorded", category=AuditCategory.CHANGE,
        object_repr=f"bank {ln.row.key}"[:200], target_type="payment", target_id=created[ln.row.key],
        extra_data={"amount": str(ln.row.amount), "source": "bank statement"},
        ip=context.ip if context else "", user_agent=context.user_agent if context else "") for ln in fresh])
    for ln in fresh:
        ln.payment = Payment(pk=created[ln.row.key], receipt=ln.row.key, method=Payment.Method.BANK,
                             amount=ln.row.amount, client=ln.client, paid_at=ln.row.paid_at,
                             status=Payment.Status.MATCHED)


def bank_statement_import(parsed: ParsedBank, *, assign: dict[int, str] | None = None, file_name: str = "",
                          actor: object) -> BankReview:
    """Record the statement's money-in rows we lack as bank payments of the clients they were
    matched to (or picked for), allocated, posted and their receipts sent; rows already recorded,
    unmatched ones and our payments it does not show are listed, never changed. Everything in
    one transaction and a fixed number of statements, however long the statement; importing the
    same file again records nothing. A picked account number that is no open account records
    nothing at all (the review comes back with `assignment_errors`)."""
    with transaction.atomic():
        review = bank_statement_review(parsed, assign=assign, file_name=file_name)
        if review.assignment_errors:
            transaction.set_rollback(True)
            return review
        if review.to_create:
            client_ids = sorted({line.client.pk for line in review.to_create})  # type: ignore[union-attr]
            # One payment of a client at a time (as payment_record): the allocations of a
            # concurrent cash-desk payment or a second import see these, and a second import's
            # look for "already recorded", taken again below, sees them too.
            clients_lock(client_ids)
            review = bank_statement_review(parsed, assign=assign, file_name=file_name)
        if review.to_create:
            created = _insert(review.to_create, actor)
            if created:
                _settle(review.to_create, created, actor)
            review.created = [line for line in review.to_create if line.row.key in created]
        audit(actor=actor, action="payments.bank_statement_imported",
              object_repr=(f"Bank statement {review.first_day:%Y-%m-%d} – {review.last_day:%Y-%m-%d}"
                           if review.first_day else "Bank statement (no money in)"),
              file=file_name[:200], created_amount=str(review.created_total),
              **review.counts())  # type: ignore[arg-type]  # counters only, none of audit()'s parameters
    return review
