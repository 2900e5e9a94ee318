"""Stored callbacks processed one at a time, each by its kind's code (payments.mpesa,
payments.paystack), once, whoever gets to it first: its task, the sweeper, or a drain batch
falling back row by row."""

from __future__ import annotations

import logging

from django.db import transaction

from majismart import crypto
from payments.inbox import UNDECRYPTABLE, inbox_body_opens, inbox_mark
from payments.models import CallbackInbox
from payments.mpesa import c2b_confirmation_process, stk_callback_process
from payments.paystack import paystack_event_process

logger = logging.getLogger(__name__)


def inbox_process(inbox_id: int) -> str:
    """Process one stored callback once, whoever gets to it first (task or sweeper). A body that
    breaks processing in a way nobody foresaw is flagged, never retried for ever."""
    try:
        return _inbox_process(inbox_id)
    except crypto.Undecryptable as exc:
        if inbox_body_opens(inbox_id):  # another row it needed (a client, a request) is unreadable: not retried
            logger.exception("Callback %s could not be processed", inbox_id)
            return inbox_mark(inbox_id, CallbackInbox.Status.INVALID, f"Processing failed: {exc}", only_received=True)
        logger.error("Callback %s: its body cannot be decrypted with any configured key", inbox_id)
        return inbox_mark(inbox_id, CallbackInbox.Status.INVALID, UNDECRYPTABLE, only_received=True)
    except Exception as exc:  # noqa: BLE001 - one bad row must not hold up the others
        logger.exception("Callback %s could not be processed", inbox_id)
        return inbox_mark(inbox_id, CallbackInbox.Status.INVALID, f"Processing failed: {type(exc).__name__} {exc}",
                          only_received=True)


def _inbox_process(inbox_id: int) -> str:
    with transaction.atomic():
        inbox = (CallbackInbox.objects.select_for_update(skip_locked=True)
                 .filter(pk=inbox_id, status=CallbackInbox.Status.RECEIVED).first())
        if inbox is None:
            return "taken"
        if inbox.kind == CallbackInbox.Kind.C2B_CONFIRMATION:
            return c2b_confirmation_process(inbox)
        if inbox.kind == CallbackInbox.Kind.STK_CALLBACK:
            return stk_callback_process(inbox)
        if inbox.kind == CallbackInbox.Kind.PAYSTACK:
            return paystack_event_process(inbox)
        return inbox_mark(inbox.pk, CallbackInbox.Status.PROCESSED)
