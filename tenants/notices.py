"""The email telling a provider's users (staff and portal clients) that a new version of the
privacy policy or terms is in force, sent through notifications like every message."""

from __future__ import annotations

from accounts.models import User
from majismart.tenancy import connection
from majismart.urls import domain_url
from notifications.models import Channel
from notifications.services import Outgoing, notify
from tenants.models import PolicyVersion

CHUNK = 500


def policy_notices(version_id: int) -> int:
    """Queue the notice to every active user of this schema; returns how many were queued now
    (a second run finds each user's message made already: its dedup key is user and version)."""
    version = PolicyVersion.objects.filter(pk=version_id, published_at__isnull=False).first()
    if version is None:
        return 0
    tenant = connection.tenant
    link = domain_url(tenant.domain, f"/{version.kind}/{version.version}/")
    values = {"provider": tenant.name, "account": "", "title": version.title.lower(), "version": version.version,
              "summary": version.summary, "link": link}
    # Clients' logins carry their account's id, so the message shows in their own message log.
    users = (User.objects.filter(is_active=True).exclude(email="").order_by("pk")
             .values_list("pk", "email", "full_name", "client__id"))
    made, batch = 0, []
    for pk, email, name, client_id in users.iterator(chunk_size=CHUNK):
        batch.append(Outgoing(key=f"user:{pk}:{version.pk}", recipient=email,
                              values={**values, "name": name or email}, client_id=client_id))
        if len(batch) == CHUNK:
            made += len(notify(event="policy_changed", channel=Channel.EMAIL, outgoing=batch))
            batch = []
    if batch:
        made += len(notify(event="policy_changed", channel=Channel.EMAIL, outgoing=batch))
    return made
