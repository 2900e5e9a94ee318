"""What a payer is asked for: the amount offered and the amounts a payer may choose (M-Pesa STK
push and card alike, payments.mpesa and payments.paystack), and the signed pay links that open
one account's payment without logging in (every bill SMS and email carries one)."""

from __future__ import annotations

import hmac
import math
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.utils import timezone

from billing.selectors import client_balance
from clients.models import Client
from majismart.links import b36, is_b36, short_mac
from majismart.tenancy import connection
from majismart.urls import domain_url
from payments.daraja import MPESA_MAX_AMOUNT

MSG_AMOUNT = "Enter a whole number of shillings from 1 to 250,000."
MSG_SETTLED = "Nothing to pay — your account is settled."
WHOLE_MAX = int(MPESA_MAX_AMOUNT)


def default_amount(client: Client) -> int:
    """What the payer is offered: the balance, rounded up to a whole shilling (M-Pesa takes no
    cents), or nothing when the account is settled."""
    balance = client_balance(client.pk)
    return max(int(math.ceil(balance)), 0)


def whole_amount(raw: object) -> int:
    """What a payer chose to pay: whole shillings (M-Pesa takes no cents) within M-Pesa's limit."""
    try:
        value = Decimal(str(raw).replace(",", "").strip())
    except InvalidOperation:
        raise ValidationError({"amount": [MSG_AMOUNT]}) from None
    if not value.is_finite() or value != value.to_integral_value() or not 1 <= value <= WHOLE_MAX:
        raise ValidationError({"amount": [MSG_AMOUNT]})
    return int(value)


# --- pay links -----------------------------------------------------------------------------------
# A link travels in every bill SMS, where each character costs: `<client id>-<day>-<signature>`
# in base 36 with a 96-bit HMAC (SECRET_KEY, salted per provider schema) over the id, account
# number and the day it was made, about 25 characters. Links in the older TimestampSigner form
# (dots in them) still open until they expire.
_EPOCH = date(2020, 1, 1)
def _pay_mac(pk: int, account: str, day: int) -> str:
    return short_mac(f"majismart.paylink:{connection.schema_name}", f"{pk}:{account}:{day}", 12)


def _pay_signer() -> signing.TimestampSigner:
    # The earlier form, salted with the provider's schema as well.
    return signing.TimestampSigner(salt=f"majismart.paylink:{connection.schema_name}", sep=".")


def pay_link_token(client: Client) -> str:
    day = (timezone.localdate() - _EPOCH).days
    return f"{b36(client.pk)}-{b36(day)}-{_pay_mac(client.pk, client.account_number, day)}"


def pay_link_url(client: Client) -> str:
    """The link every bill SMS and email carries: opens this account's pay page without logging
    in, for PAY_LINK_MAX_AGE_DAYS."""
    return domain_url(connection.tenant.domain, f"/pay/{pay_link_token(client)}/")


def _legacy_pay_link(token: str) -> tuple[int, str] | None:
    try:
        value = _pay_signer().unsign(token, max_age=timedelta(days=settings.PAY_LINK_MAX_AGE_DAYS))
    except signing.BadSignature:
        return None
    pk, _, account = value.partition("-")
    return (int(pk), account) if pk.isdigit() else None


def pay_link_client(token: str) -> Client | None:
    """The client a pay link was made for, or None (forged, expired, or the account changed)."""
    if "." in token:
        found = _legacy_pay_link(token)
        if found is None:
            return None
        return Client.objects.filter(pk=found[0], account_number=found[1]).exclude(status=Client.Status.CLOSED).first()
    parts = token.split("-", 2)  # the signature's alphabet has "-" too
    if len(parts) != 3 or not all(parts) or not (is_b36(parts[0]) and is_b36(parts[1])) or len(parts[0]) > 12:
        return None
    pk, day = int(parts[0], 36), int(parts[1], 36)
    if not 0 <= (timezone.localdate() - _EPOCH).days - day <= settings.PAY_LINK_MAX_AGE_DAYS:
        return None
    client = Client.objects.filter(pk=pk).exclude(status=Client.Status.CLOSED).first()
    if client is None or not hmac.compare_digest(parts[2], _pay_mac(pk, client.account_number, day)):
        return None
    return client
