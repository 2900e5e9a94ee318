"""The client's own "Messages" page in the portal: what they are sent, and their choices."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext

from accounts.permissions import require_capability
from clients.selectors import own_client
from notifications.models import CONTACT_TOPICS, Message
from notifications.services import consent_map, consent_record
from tenants.selectors import current_policy_version


@require_capability("portal.use")
def portal_messages(request: HttpRequest) -> HttpResponse:
    client = own_client(request.user)
    if request.method == "POST" and client is not None:
        choices: dict[str, bool] = {topic: request.POST.get(topic) == "on" for topic in CONTACT_TOPICS}
        if consent_record(client_id=client.pk, choices=choices, source="portal", actor=request.user,
                          policy_version=current_policy_version("privacy").version):
            messages.success(request, gettext("Your choices are saved."))
        return redirect("portal_messages")
    prefs = consent_map([client.pk])[client.pk] if client else {}
    sent = (Message.objects.filter(client_id=client.pk).exclude(status=Message.Status.SKIPPED)
            .exclude(purpose="account").order_by("-created")[:20]) if client else []
    return render(request, "portal/messages.html", {
        "active": "messages", "client": client, "prefs": prefs, "topics": [(t.value, t.label) for t in CONTACT_TOPICS], "sent": sent})
