"""The callback inbox: every callback is stored first (raw body encrypted, the headers worth
keeping, the source address), answered, and processed later (payments.callbacks one at a time,
payments.batch for C2B confirmations in sets); what became of it is marked on its row."""

from __future__ import annotations

import json
import logging
from functools import lru_cache

from django.utils import timezone

from majismart import crypto
from majismart.badinput import printable
from majismart.sql import quote_ident
from majismart.tenancy import connection
from payments.models import CallbackInbox
from payments.prepared import SchemaStatement

logger = logging.getLogger(__name__)

KEPT_HEADERS = ("content-type", "user-agent", "x-forwarded-for", "x-real-ip", "x-paystack-signature")


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


CONFIRMATION_STATEMENT = SchemaStatement("majismart_c2b", _confirmation_store_sql)


def confirmation_store(*, body: bytes, headers: dict[str, str], source_ip: str | None, note: str = "") -> bool:
    """Store a C2B confirmation and, in the same statement (one round trip on the busiest
    endpoint), raise the drain flag; True when this call raised it, i.e. a drain must be queued."""
    # A statement prepared once per connection and provider schema (payments.prepared). The body
    # is encrypted here, in Python (it carries the payer's phone number and name), as the model
    # field would: the statement bypasses the ORM.
    params: list[bytes | None] = [
        CallbackInbox.Kind.C2B_CONFIRMATION.encode(), crypto.sealed(body.decode("utf-8", errors="replace")).encode(),
        json.dumps(_kept(headers)).encode(), source_ip.encode() if source_ip else None,
        CallbackInbox.Status.RECEIVED.encode(), note[:300].encode(), timezone.now().isoformat().encode()]
    return CONFIRMATION_STATEMENT.run(connection, params).get_value(0, 1) == b"t"


def inbox_store(*, kind: str, body: bytes, headers: dict[str, str], source_ip: str | None,
                note: str = "") -> CallbackInbox:
    return CallbackInbox.objects.create(kind=kind, body=body.decode("utf-8", errors="replace"), note=note[:300],
                                        headers=_kept(headers), source_ip=source_ip)


def inbox_mark(inbox_id: int, status: str, note: str = "", *, only_received: bool = False) -> str:
    """Record what became of a stored callback; returns the status."""
    rows = CallbackInbox.objects.filter(pk=inbox_id)
    if only_received:
        rows = rows.filter(status=CallbackInbox.Status.RECEIVED)
    rows.update(status=status, processed=timezone.now(), note=printable(note)[:300])
    return status


# The note of a callback whose stored body no configured key opens (a key left out of
# FIELD_ENCRYPTION_KEYS): the sweeper retries it once the keys open it.
UNDECRYPTABLE = "Could not be decrypted with the configured keys: retried once they open it"


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


def inbox_body_opens(inbox_id: int) -> bool:
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
