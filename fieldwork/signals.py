"""What fieldwork tells the apps above it (arrears: a disconnection or reconnection done)."""

from django.dispatch import Signal

# sender=WorkOrder, order=the WorkOrder, after commit of its completion (status done or not_done).
work_order_finished = Signal()
