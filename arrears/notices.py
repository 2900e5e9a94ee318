"""What clients are told about plans, disconnections and reconnections (SMS and email through
notifications; each message once per dedup key)."""

from __future__ import annotations

from datetime import date

from django.utils.translation import override

from accounts.languages import chosen_or_default
from clients.models import Client
from majismart.tenancy import connection
from notifications.models import Channel, NotificationSettings
from notifications.services import Outgoing, notify
from payments import documents
from payments.collect import pay_link_url
from payments.notices import day, how_to_pay_words


def tell(client: Client, event: str, key: str, values: dict[str, str | date], *, email: bool = True) -> int:
    """One message to the client's phone (and email) with the common values added; a date is
    written in the client's language, as the words are."""
    with override(chosen_or_default(client.language)):
        words, number = how_to_pay_words(documents.how_to_pay(), client.account_number)
        written = {name: day(value) if isinstance(value, date) else value for name, value in values.items()}
    told: dict[str, str] = {"provider": connection.tenant.name, "name": client.full_name,
                            "account": client.account_number, "how_to_pay": words, "paybill": number,
                            "pay_link": pay_link_url(client), **written}
    cfg = NotificationSettings.load()
    made = 0
    channels = ((Channel.SMS, client.phone), (Channel.EMAIL, client.email)) if email else ((Channel.SMS, client.phone),)
    for channel, address in channels:
        if address:
            made += len(notify(event=event, channel=channel, cfg=cfg, outgoing=[
                Outgoing(key=key, recipient=address, values=dict(told), client_id=client.pk)]))
    return made

