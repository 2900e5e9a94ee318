"""Payments' own events, for reactions kept in payments.receivers (which sit above the code that
sends them: a payment booked low in the stack reaches the Celery tasks at the top this way)."""

from __future__ import annotations

from django.dispatch import Signal

# Matched payments allocated and posted to the ledger: `payment_ids`. Sent inside the booking's
# transaction; receivers act after it commits (payments.receivers: the receipts).
payments_settled = Signal()
