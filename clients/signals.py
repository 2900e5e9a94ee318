"""What the register tells the apps above it (billing opens ledgers). Kept in one place."""

from django.dispatch import Signal

# Sent with `clients`: a list of newly registered clients (one from the form or API, many from
# an import), inside the transaction that created them.
clients_registered = Signal()
