"""Billing's reactions to the register (connected in BillingConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from billing.services import opening_balances_post
from clients.signals import clients_registered


@receiver(clients_registered)
def open_ledgers(sender: Any, clients: list, actor: object = None, **kwargs: Any) -> None:
    opening_balances_post(clients, actor=actor)
