"""Writes for payments: record a payment exactly once, allocate it to the oldest open invoices,
post it to the ledger; take callbacks into the inbox and process them."""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import ZoneInfo

import psycopg
from django.db import transaction
from django.db.models import Case, Q, When
from django.db.models.functions import Upper
from django.utils import timezone

from accounts.services import actor_user, audit
from billing.models import Invoice, LedgerEntry
from billing.selectors import invoices_with_dues
from clients.models import Client
from majismart import crypto
from majismart.badinput import MSG_NUL, NUL, printable
from majismart.money import exponent
from majismart.sql import quote_ident
from majismart.tenancy import connection
from payments.models import Allocation, CallbackInbox, Payment

NAIROBI = ZoneInfo("Africa/Nairobi")
logger = logging.getLogger(__name__)

# A payment dated outside these bounds is a typing or a payload error, never a payment: refused
# (manual payments) or not believed (callbacks). Far outside them (year 1) a date cannot even be
# shown in Nairobi time, and one stored would break every page and PDF that lists it.
EARLIEST_PAYMENT = datetime(2000, 1, 1, tzinfo=NAIROBI)
LATEST_AHEAD = timedelta(days=365)


def payment_time_plausible(moment: datetime, now: datetime | None = None) -> bool:
    return EARLIEST_PAYMENT <= moment <= (now or timezone.now()) + LATEST_AHEAD


def payment_plausible_or_now(moment: datetime | None) -> datetime:
    """A provider's own time of a payment (Paystack's paid_at), or now when it has none that can
    be believed: the money is real, its time is only what the provider said."""
    now = timezone.now()
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)  # Paystack writes UTC
    return moment if moment is not None and payment_time_plausible(moment, now) else now


MANUAL_METHODS = ("cash", "bank", "cheque")
MSG_PAID_AT_FORMAT = "Give a date and time in ISO 8601, e.g. 2026-11-02T10:30:00+03:00."
MSG_PAID_AT_FUTURE = "A payment cannot be in the future."
MSG_PAID_AT_EARLY = "A payment cannot be dated before 1 Jan 2000: check the year."
MSG_METHOD = 'Give "cash", "bank" or "cheque" (M-Pesa and card payments arrive by themselves).'
MSG_AMOUNT = "Enter an amount in KES above zero, with at most 2 decimals."
MSG_REFERENCE = "Give the receipt, bank or cheque reference."


def manual_payment_clean(data: object, *, reference_optional_for: tuple[str, ...] = (),
                         paid_at_format: str = MSG_PAID_AT_FORMAT) -> tuple[dict, dict[str, list[str]]]:
    """A cash, bank or cheque payment typed by staff (the API's POST /payments/ and the
    dashboard's cash desk): the client (of this provider), amount, method, reference and time,
    and the errors by field. `reference_optional_for`: methods whose reference may be left blank
    (the caller then makes one)."""
    from django.utils.dateparse import parse_datetime

    from majismart.badinput import nul_errors

    if not isinstance(data, dict):
        return {}, {"detail": ["Send a JSON object."]}
    errors: dict[str, list[str]] = nul_errors({k: data.get(k) for k in ("client", "amount", "method", "reference",
                                                                         "paid_at")})
    out: dict = {}
    client_id = str(data.get("client", "") or "").strip()
    out["client"] = Client.objects.filter(pk=int(client_id)).first() if client_id.isdigit() else None
    if out["client"] is None:
        errors.setdefault("client", ["Unknown client."])
    if "amount" not in errors:  # a NUL said so already
        try:
            # "1,664.00" as typed at a counter; at most what an amount column holds (12 digits, 2 decimals).
            amount = Decimal(str(data.get("amount", "") or "").strip().replace(",", ""))
            if not amount.is_finite() or amount <= 0 or exponent(amount) < -2 or amount >= Decimal("1e10"):
                raise InvalidOperation
            out["amount"] = amount
        except InvalidOperation:
            errors["amount"] = [MSG_AMOUNT]
    if data.get("method") not in MANUAL_METHODS:
        errors.setdefault("method", [MSG_METHOD])
    out["method"] = data.get("method")
    reference = str(data.get("reference") or "").strip()
    if not reference and out["method"] not in reference_optional_for:
        errors.setdefault("reference", [MSG_REFERENCE])
    out["reference"] = reference[:64]
    raw_time = data.get("paid_at")
    paid_at: datetime | None = timezone.now()
    if raw_time and "paid_at" not in errors:
        try:
            paid_at = parse_datetime(str(raw_time))
        except ValueError:  # the right shape, but no such moment: 2024-02-30, 12:99
            paid_at = None
        if paid_at is None:
            errors["paid_at"] = [paid_at_format]
        elif timezone.is_naive(paid_at):
            paid_at = timezone.make_aware(paid_at)
        if paid_at and paid_at > timezone.now():
            errors["paid_at"] = [MSG_PAID_AT_FUTURE]
        elif paid_at and paid_at < EARLIEST_PAYMENT:
            # Year 1 would be stored, then break every page and PDF showing it in Nairobi time.
            errors["paid_at"] = [MSG_PAID_AT_EARLY]
    out["paid_at"] = paid_at
    return out, errors


# --- the account-matching rule: what the payer typed finds a client ------------------------------
def account_key(reference: str | None) -> str:
    """What the payer typed as the account number, as it is matched: trimmed, any case. Empty
    when nothing can match (nothing typed, or a NUL no account number holds)."""
    reference = (reference or "").strip()
    if not reference or NUL in reference:
        return ""
    return reference.upper()


# A disconnected client still pays arrears; only a closed account takes no money. Matched through
# the index on UPPER(account_number).
_ACCOUNT_UPPER = Upper("account_number")
_TAKES_MONEY = ~Q(status=Client.Status.CLOSED)


def client_for_account(reference: str) -> Client | None:
    """The client whose account number the payer typed: one lookup, for every callback."""
    key = account_key(reference)
    if not key:
        return None
    return Client.objects.annotate(account_upper=_ACCOUNT_UPPER).filter(_TAKES_MONEY, account_upper=key).first()


def clients_for_accounts(references: Iterable[str]) -> dict[str, int]:
    """{account_key: client id} for many typed references in one lookup (a drain batch)."""
    keys = sorted({key for key in map(account_key, references) if key})
    if not keys:
        return {}
    return dict(Client.objects.annotate(account_upper=_ACCOUNT_UPPER).filter(_TAKES_MONEY, account_upper__in=keys)
                .values_list("account_upper", "id"))


def payments_ledger_link(pairs: list[tuple[int, int]]) -> None:
    """Point each payment of a set at its ledger entry, in one statement: (payment id, entry id)."""
    if not pairs:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE payments_payment p SET ledger_entry_id = v.entry FROM (VALUES "  # noqa: S608 - values bound
            + ", ".join(["(%s::bigint, %s::bigint)"] * len(pairs)) + ") AS v(payment, entry) WHERE p.id = v.payment",
            [x for pair in pairs for x in pair])


def open_balances(client_ids: list[int]) -> dict[int, list[list]]:
    """What each client still owes, invoice by invoice in due order: [invoice id, amount]."""
    owed: dict[int, list[list]] = {}
    for inv in (invoices_with_dues(Invoice.objects.filter(client_id__in=client_ids, status=Invoice.Status.ISSUED))
                .filter(balance_due__gt=0)  # type: ignore[misc]  # an int compares with the numeric
                .order_by("client_id", "due_date", "id").only("id", "client_id")):
        owed.setdefault(inv.client_id, []).append([inv.pk, inv.balance_due])
    return owed


def allocate_oldest_first(payments: list[tuple[int, int, Decimal]], owed: dict[int, list[list]]) -> list[Allocation]:
    """Each (payment id, client id, amount), in the order given, settles its client's invoices
    oldest first, using up `owed` as it goes; what is left over stays on the ledger as a credit."""
    allocations = []
    for payment_id, client_id, amount in payments:
        left = amount
        for slot in owed.get(client_id, []):
            if left <= 0:
                break
            part = min(left, slot[1])
            if part > 0:
                allocations.append(Allocation(payment_id=payment_id, invoice_id=slot[0], amount=part))
                slot[1] -= part
                left -= part
    return allocations


def _allocate(payment: Payment) -> list[Allocation]:
    assert payment.client_id is not None  # matched
    return Allocation.objects.bulk_create(allocate_oldest_first(
        [(payment.pk, payment.client_id, payment.amount)], open_balances([payment.client_id])))


def _settle(payment: Payment, *, actor: object, note: str = "") -> None:
    """A matched payment: allocated to its client's invoices and posted to the ledger (the
    caller saves `payment.ledger_entry`); its receipt goes out after commit."""
    from payments.receivers import receipts_queue

    _allocate(payment)
    assert payment.client_id is not None  # matched
    payment.ledger_entry = LedgerEntry.objects.create(
        client_id=payment.client_id, kind=LedgerEntry.Kind.PAYMENT, amount=-payment.amount,
        booked_on=timezone.localdate(payment.paid_at), reference=payment.receipt,
        description=f"{payment.get_method_display()} payment{note}",
        created_by=actor_user(actor))
    receipts_queue([payment.pk])


def _close_waiting_request(payment: Payment) -> None:
    """An M-Pesa payment reaching a client by paybill confirmation or statement closes the STK
    request still waiting for it (M-Pesa said "paid" by query, or its callback has not come): the
    one of the same amount from the day before, M-Pesa-confirmed ones first."""
    from payments.models import PaymentRequest

    assert payment.client_id is not None  # it has reached a client
    waiting = (PaymentRequest.objects.filter(
        channel=PaymentRequest.Channel.STK, client_id=payment.client_id, amount=payment.amount, payment__isnull=True,
        status__in=[PaymentRequest.Status.CONFIRMED, PaymentRequest.Status.PENDING],
        created__gte=payment.paid_at - timedelta(days=1), created__lte=payment.paid_at + timedelta(minutes=5))
        # M-Pesa's own "paid" (STK query) first, then the most recent.
        .order_by(Case(When(status=PaymentRequest.Status.CONFIRMED, then=0), default=1), "-created")
        .values_list("pk", flat=True)[:1])
    PaymentRequest.objects.filter(pk__in=list(waiting)).update(
        status=PaymentRequest.Status.PAID, payment=payment, message=f"Paid. M-Pesa receipt {payment.receipt}. Thank you!")


@dataclass
class Recorded:
    payment: Payment
    created: bool


def payment_record(*, method: str, receipt: str, amount: Decimal, paid_at: datetime, client: Client | None,
                   account_reference: str = "", payer: str = "", payer_name: str = "",
                   inbox: CallbackInbox | None = None, actor: object = None, close_request: bool = True) -> Recorded:
    """Record a payment once per (method, receipt): the unique constraint decides (INSERT … ON
    CONFLICT DO NOTHING), so ten deliveries at once make one payment. A matched payment is
    allocated and posted to the ledger in the same transaction; an unmatched one waits in the
    reconciliation queue."""
    with transaction.atomic():
        if client is not None:
            # One payment of a client at a time: allocations see each other's effect.
            Client.objects.select_for_update().filter(pk=client.pk).first()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO payments_payment (receipt, method, amount, client_id, status, paid_at, account_reference, "
                "payer, payer_name, inbox_id, recorded_by_id, created) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (method, receipt) DO NOTHING RETURNING id",
                [receipt, method, amount, client.pk if client else None,
                 Payment.Status.MATCHED if client else Payment.Status.UNMATCHED, paid_at, account_reference[:64],
                 _sealed(payer[:120]), _sealed(payer_name[:200]), inbox.pk if inbox else None,
                 getattr(actor, "pk", None) if getattr(actor, "pk", None) else None, timezone.now()])
            row = cursor.fetchone()
        if row is None:
            return Recorded(Payment.objects.get(method=method, receipt=receipt), False)
        payment = Payment.objects.get(pk=row[0])
        if client is not None:
            _settle(payment, actor=payment.recorded_by)
            payment.save(update_fields=["ledger_entry"])
            if method == Payment.Method.MPESA and close_request:
                _close_waiting_request(payment)
        if actor is not None:
            audit(actor=actor, action="payment.recorded", object_repr=f"{method} {receipt}", amount=str(amount))
    return Recorded(payment, True)


# --- callbacks ---------------------------------------------------------------------------------
KEPT_HEADERS = ("content-type", "user-agent", "x-forwarded-for", "x-real-ip", "x-paystack-signature")


def _sealed(value: str) -> str:
    """A personal value as an encrypted column stores it (EncryptedTextField), for raw statements."""
    return crypto.encrypt(value) if value else ""


def _kept(headers: dict[str, str]) -> dict[str, str]:
    # printable: a jsonb value cannot hold \u0000.
    return {k.lower(): printable(v) for k, v in headers.items() if k.lower() in KEPT_HEADERS}


@lru_cache(maxsize=4096)
def _confirmation_store_sql(schema: str) -> bytes:
    """The statement for one provider's schema, its tables named in full: no search_path has to
    be set for it (that would be one more round trip on the busiest endpoint)."""
    q = quote_ident(schema)
    return f"""
WITH ins AS (
    INSERT INTO {q}.payments_callbackinbox (kind, body, headers, source_ip, status, note, received)
    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id),
  flip AS (UPDATE {q}.payments_drainflag SET pending = true, beat = now() WHERE id = 1 AND NOT pending RETURNING 1)
SELECT (SELECT id FROM ins), EXISTS (SELECT 1 FROM flip)
""".encode()  # noqa: S608 - the schema is quoted by quote_ident; values are $n parameters


class _Prepared:
    """The confirmation statements one database connection has prepared, by schema, oldest
    first; past PREPARED_MAX the oldest is deallocated (a connection may serve many providers).
    Names are never reused on a connection, so a forgotten one cannot clash with a live one."""

    PREPARED_MAX = 64

    def __init__(self) -> None:
        self.names: dict[str, bytes] = {}
        self.made = 0

    def execute(self, conn: psycopg.Connection, schema: str, params: list[bytes | None]) -> psycopg.pq.abc.PGresult:
        """The schema's statement with these parameters. One deallocated behind our back
        (DISCARD ALL, DEALLOCATE ALL) is forgotten; outside a transaction the failed call changed
        nothing, so it is prepared again and run."""
        try:
            return _ok(conn.pgconn.exec_prepared(self._name(conn.pgconn, schema), params))  # type: ignore[arg-type]  # None is SQL NULL
        except psycopg.errors.InvalidSqlStatementName:
            self.names.pop(schema, None)
            if not conn.autocommit:
                raise
            return _ok(conn.pgconn.exec_prepared(self._name(conn.pgconn, schema), params))  # type: ignore[arg-type]  # None is SQL NULL

    def _name(self, pgconn: psycopg.pq.abc.PGconn, schema: str) -> bytes:
        name = self.names.get(schema)
        if name is None:
            while len(self.names) >= self.PREPARED_MAX:
                _ok(pgconn.exec_(b"DEALLOCATE " + self.names.pop(next(iter(self.names)))))
            self.made += 1
            name = b"majismart_c2b_%d" % self.made
            _ok(pgconn.prepare(name, _confirmation_store_sql(schema)))
            self.names[schema] = name
        return name


_prepared: weakref.WeakKeyDictionary[psycopg.Connection, _Prepared] = weakref.WeakKeyDictionary()


def _ok(result: psycopg.pq.abc.PGresult) -> psycopg.pq.abc.PGresult:
    """libpq's result, or psycopg's exception for its SQLSTATE (which Django's wrapper maps); a
    result with none is a connection that was lost (OperationalError, as psycopg says it)."""
    if result.status in (psycopg.pq.ExecStatus.COMMAND_OK, psycopg.pq.ExecStatus.TUPLES_OK):
        return result
    if not result.error_field(psycopg.pq.DiagnosticField.SQLSTATE):
        raise psycopg.OperationalError(result.get_error_message() or "the connection to the database was lost")
    raise psycopg.errors.error_from_result(result)


def confirmation_store(*, body: bytes, headers: dict[str, str], source_ip: str | None, note: str = "") -> bool:
    """Store a C2B confirmation and, in the same statement (one round trip on the busiest
    endpoint), raise the drain flag; True when this call raised it, i.e. a drain must be queued."""
    # A statement prepared once per connection and provider schema, executed straight through
    # libpq (psycopg's pq layer): no parse or plan per callback, no search_path to set first, and
    # none of a cursor's work on a statement that returns one row of two values. The body is
    # encrypted here, in Python (it carries the payer's phone number and name), as the model
    # field would: the statement bypasses the ORM.
    connection.ensure_connection()
    conn = connection.connection
    params = [CallbackInbox.Kind.C2B_CONFIRMATION.encode(), _sealed(body.decode("utf-8", errors="replace")).encode(),
              json.dumps(_kept(headers)).encode(), source_ip.encode() if source_ip else None,
              CallbackInbox.Status.RECEIVED.encode(), note[:300].encode(), timezone.now().isoformat().encode()]
    with connection.wrap_database_errors:
        if not conn.autocommit and conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            # In atomic() before its first statement: psycopg sends BEGIN only ahead of its own
            # statements, so have it open the block's transaction, or the insert would commit alone.
            conn.execute("SELECT 1")
        prepared = _prepared.get(conn)
        if prepared is None:
            prepared = _prepared[conn] = _Prepared()
        result = prepared.execute(conn, connection.schema_name, params)
    return result.get_value(0, 1) == b"t"


def inbox_store(*, kind: str, body: bytes, headers: dict[str, str], source_ip: str | None,
                note: str = "") -> CallbackInbox:
    return CallbackInbox.objects.create(kind=kind, body=body.decode("utf-8", errors="replace"), note=note[:300],
                                        headers=_kept(headers), source_ip=source_ip)


def payer_name(data: dict) -> str:
    """Daraja's FirstName, MiddleName and LastName as one name; an empty part leaves no gap."""
    return printable(" ".join(part for k in ("FirstName", "MiddleName", "LastName")
                              if (part := str(data.get(k) or "").strip())))


def _trans_time(raw: str) -> datetime:
    """Daraja's TransTime, YYYYMMDDHHmmss in Nairobi time; ValueError for one that is no date
    (20240230…, …1299…) or is far from today (before 2000, more than a year ahead)."""
    if len(raw) != 14 or not raw.isascii() or not raw.isdigit():
        raise ValueError(f"TransTime {raw[:20]!r}")
    moment = datetime.strptime(raw, "%Y%m%d%H%M%S").replace(tzinfo=NAIROBI)
    if not payment_time_plausible(moment):
        raise ValueError(f"TransTime {raw!r} is far from today")
    return moment


MSG_TIME_HELD = ("TransTime {value} is no possible date or is far from today: recorded at the time it "
                 "arrived and held for review in reconciliation")


def trans_time_or_held(raw: object, received: datetime) -> tuple[datetime, str]:
    """When the payment was made, and why it is held for review ("" when it is not). A
    confirmation is money M-Pesa has already moved, so a TransTime that cannot be believed does
    not make it unreadable: the payment is recorded at the moment the callback arrived (seconds
    after the payment) and, its payload being suspect, goes to reconciliation for a person to
    check and assign, rather than settling invoices on its own."""
    try:
        return _trans_time(str(raw if raw is not None else "")), ""
    except ValueError:
        return received, MSG_TIME_HELD.format(value=repr(printable(str(raw))[:20]))


# M-Pesa's limit per transaction (KES 1 to 250,000, shared/reference/payments-apis.md): C2B
# validation refuses more, and a confirmation or STK result above it did not come from M-Pesa.
MPESA_MAX_AMOUNT = Decimal("250000")


def _amount(raw: object) -> Decimal:
    value = Decimal(str(raw).strip())
    if not value.is_finite() or value <= 0 or value > MPESA_MAX_AMOUNT:
        raise InvalidOperation(f"amount {str(raw)[:20]!r} not within 0 to {MPESA_MAX_AMOUNT}")
    return value.quantize(Decimal("0.01"))


def mpesa_amount(raw: object) -> Decimal | None:
    """A callback's TransAmount as money, or None when unreadable, not positive or above M-Pesa's
    limit."""
    try:
        return _amount(raw)
    except (InvalidOperation, ValueError, TypeError):
        return None


def _receipt(raw: object) -> str:
    receipt = str(raw).strip()
    if not receipt or len(receipt) > 64 or NUL in receipt:
        raise ValueError(f"receipt {receipt[:70]!r}")
    return receipt


def inbox_mark(inbox_id: int, status: str, note: str = "", *, only_received: bool = False) -> str:
    """Record what became of a stored callback; returns the status."""
    rows = CallbackInbox.objects.filter(pk=inbox_id)
    if only_received:
        rows = rows.filter(status=CallbackInbox.Status.RECEIVED)
    rows.update(status=status, processed=timezone.now(), note=printable(note)[:300])
    return status


def c2b_confirmation_process(inbox: CallbackInbox) -> str:
    """One stored C2B confirmation: a payment (matched by BillRefNumber, or unmatched)."""
    try:
        data = json.loads(inbox.body)
        receipt = _receipt(data["TransID"])
        amount = _amount(data["TransAmount"])
        paid_at, held = trans_time_or_held(data.get("TransTime"), inbox.received)
    except (ValueError, KeyError, TypeError, InvalidOperation, AttributeError) as exc:
        return inbox_mark(inbox.pk, CallbackInbox.Status.INVALID, f"Could not be read: {type(exc).__name__} {exc}")
    reference = printable(str(data.get("BillRefNumber") or ""))
    name = payer_name(data)
    recorded = payment_record(method=Payment.Method.MPESA, receipt=receipt, amount=amount, paid_at=paid_at,
                              client=None if held else client_for_account(reference), account_reference=reference,
                              payer=printable(str(data.get("MSISDN") or "")), payer_name=name, inbox=inbox)
    if recorded.created:
        return inbox_mark(inbox.pk, CallbackInbox.Status.PROCESSED, held)
    return inbox_mark(inbox.pk, CallbackInbox.Status.DUPLICATE, f"Already recorded: {receipt}")


# The note of a callback whose stored body no configured key opens (a key left out of
# FIELD_ENCRYPTION_KEYS): the sweeper retries it once the keys open it.
UNDECRYPTABLE = "Could not be decrypted with the configured keys: retried once they open it"


def inbox_process(inbox_id: int) -> str:
    """Process one stored callback once, whoever gets to it first (task or sweeper). A body that
    breaks processing in a way nobody foresaw is flagged, never retried for ever."""
    try:
        return _inbox_process(inbox_id)
    except crypto.Undecryptable as exc:
        if _body_opens(inbox_id):  # another row it needed (a client, a request) is unreadable: not retried
            logger.exception("Callback %s could not be processed", inbox_id)
            return inbox_mark(inbox_id, CallbackInbox.Status.INVALID, f"Processing failed: {exc}", only_received=True)
        logger.error("Callback %s: its body cannot be decrypted with any configured key", inbox_id)
        return inbox_mark(inbox_id, CallbackInbox.Status.INVALID, UNDECRYPTABLE, only_received=True)
    except Exception as exc:  # noqa: BLE001 - one bad row must not hold up the others
        logger.exception("Callback %s could not be processed", inbox_id)
        return inbox_mark(inbox_id, CallbackInbox.Status.INVALID, f"Processing failed: {type(exc).__name__} {exc}",
                          only_received=True)


def _opens(stored: str) -> bool:
    """Whether a stored body reads with the configured keys: False only when it is a token no
    key opens (a value that is no token at all reads as it is)."""
    try:
        crypto.decrypt(stored)
    except crypto.Undecryptable:
        return False
    except ValueError:
        return True
    return True


def _body_opens(inbox_id: int) -> bool:
    """Whether the stored body of this callback decrypts with the configured keys (read raw)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM payments_callbackinbox WHERE id = %s", [inbox_id])
        row = cursor.fetchone()
    return row is None or not row[0] or _opens(row[0])


def inbox_reopen_decryptable() -> int:
    """Callbacks flagged because no configured key opened them, that the keys open now (the
    missing key was put back): back to received, to be processed like any other; returns how
    many. Only those rows are read (a partial index), so the sweeper can ask every time."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, body FROM payments_callbackinbox WHERE status = %s AND note = %s",
                       [CallbackInbox.Status.INVALID, UNDECRYPTABLE])
        flagged = cursor.fetchall()
    opened = [inbox_id for inbox_id, stored in flagged if _opens(stored)]
    if not opened:
        return 0
    reopened = CallbackInbox.objects.filter(pk__in=opened, status=CallbackInbox.Status.INVALID, note=UNDECRYPTABLE
                                            ).update(status=CallbackInbox.Status.RECEIVED, processed=None,
                                                     note="Decrypted after the keys changed")
    logger.warning("%s callbacks the configured keys open again are back in the queue", reopened)
    return reopened


def _inbox_process(inbox_id: int) -> str:
    with transaction.atomic():
        inbox = (CallbackInbox.objects.select_for_update(skip_locked=True)
                 .filter(pk=inbox_id, status=CallbackInbox.Status.RECEIVED).first())
        if inbox is None:
            return "taken"
        if inbox.kind == CallbackInbox.Kind.C2B_CONFIRMATION:
            return c2b_confirmation_process(inbox)
        if inbox.kind == CallbackInbox.Kind.STK_CALLBACK:
            from payments.collect import stk_callback_process

            return stk_callback_process(inbox)
        if inbox.kind == CallbackInbox.Kind.PAYSTACK:
            from payments.collect import paystack_event_process

            return paystack_event_process(inbox)
        return inbox_mark(inbox.pk, CallbackInbox.Status.PROCESSED)


MSG_NOT_UNMATCHED = "Only a payment waiting in reconciliation can be assigned or refunded."
MSG_ACCOUNT = "No open account has number “{value}” (closed accounts take no payments)."


def payment_assign_to(*, payment: Payment, client: Client, actor: object, note: str = " (reconciled)",
                      close_request: bool = True) -> Payment:
    """An unmatched payment given to `client`: allocated and posted as if it had matched on
    arrival (the caller audits when a person did it)."""
    from django.core.exceptions import ValidationError

    with transaction.atomic():
        Client.objects.select_for_update().filter(pk=client.pk).first()
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status != Payment.Status.UNMATCHED:
            raise ValidationError({"payment": [MSG_NOT_UNMATCHED]})
        payment.client, payment.status = client, Payment.Status.MATCHED
        _settle(payment, actor=actor, note=note)
        payment.save(update_fields=["client", "status", "ledger_entry"])
        if payment.method == Payment.Method.MPESA and close_request:
            _close_waiting_request(payment)
    return payment


def payment_assign(*, payment: Payment, account_number: str, actor: object) -> Payment:
    """Give an unmatched payment to the client it was meant for: allocated and posted as if it
    had matched on arrival. Audited."""
    from django.core.exceptions import ValidationError

    if NUL in account_number:
        raise ValidationError({"account_number": [MSG_NUL]})
    client = client_for_account(account_number)
    if client is None:
        raise ValidationError({"account_number": [MSG_ACCOUNT.format(value=account_number.strip())]})
    with transaction.atomic():
        payment = payment_assign_to(payment=payment, client=client, actor=actor)
        audit(actor=actor, action="payment.assigned", object_repr=f"{payment.receipt} → {client.account_number}",
              amount=str(payment.amount), typed=payment.account_reference)
    return payment


def payment_mark_refunded(*, payment: Payment, reason: str, actor: object) -> Payment:
    from django.core.exceptions import ValidationError

    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say how the money was returned (e.g. M-Pesa reversal reference)."]})
    if NUL in reason:
        raise ValidationError({"reason": [MSG_NUL]})
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status != Payment.Status.UNMATCHED:
            raise ValidationError({"payment": [MSG_NOT_UNMATCHED]})
        payment.status = Payment.Status.REFUNDED
        payment.save(update_fields=["status"])
        audit(actor=actor, action="payment.refunded", object_repr=payment.receipt, amount=str(payment.amount),
              reason=reason[:300])
    return payment


def _reallocate(client_id: int) -> None:
    """After a reversal, the client's remaining payments settle the oldest invoices first again
    (as the balances do), so allocations and invoice states tell the same story."""
    owed = {client_id: [[inv.pk, max(inv.total - inv.credited, Decimal("0"))] for inv in invoices_with_dues(
        Invoice.objects.filter(client_id=client_id, status=Invoice.Status.ISSUED)).order_by("due_date", "id")]}
    payments = Payment.objects.filter(client_id=client_id, status=Payment.Status.MATCHED).order_by("paid_at", "id")
    Allocation.objects.filter(payment__client_id=client_id).delete()
    Allocation.objects.bulk_create(allocate_oldest_first(
        [(p.pk, client_id, p.amount) for p in payments], owed))


MSG_NOT_REVERSIBLE = "Only a matched payment can be reversed (an unmatched one is refunded instead)."


def payment_reverse(*, payment: Payment, reason: str, actor: object) -> Payment:
    """Undo a payment recorded in error (owner or manager): a reversing ledger entry, its
    allocations removed (so its invoices are open again), audited. The payment row stays."""
    from django.core.exceptions import ValidationError

    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say why the payment is reversed."]})
    if NUL in reason:
        raise ValidationError({"reason": [MSG_NUL]})
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status != Payment.Status.MATCHED or payment.ledger_entry_id is None:
            raise ValidationError({"payment": [MSG_NOT_REVERSIBLE]})
        assert payment.client_id is not None  # matched: checked above
        Client.objects.select_for_update().filter(pk=payment.client_id).first()
        original = payment.ledger_entry
        assert original is not None  # posted: checked above
        payment.reversal_entry = LedgerEntry.objects.create(
            client_id=payment.client_id, kind=LedgerEntry.Kind.REVERSAL, amount=-original.amount,
            booked_on=timezone.localdate(), reference=payment.receipt, reverses=original,
            description=f"Reversal of {payment.get_method_display()} payment {payment.receipt}: {reason}"[:200],
            created_by=actor_user(actor))
        undone = [(a.invoice.number, str(a.amount)) for a in payment.allocations.select_related("invoice")]
        payment.allocations.all().delete()
        payment.status, payment.reversed_at = Payment.Status.REVERSED, timezone.now()
        payment.reversed_by = actor_user(actor)
        payment.reversal_reason = reason[:300]
        payment.save(update_fields=["status", "reversal_entry", "reversed_at", "reversed_by", "reversal_reason"])
        _reallocate(payment.client_id)
        audit(actor=actor, action="payment.reversed", object_repr=payment.receipt, amount=str(payment.amount),
              reason=reason[:300], allocations=undone)
    return payment
