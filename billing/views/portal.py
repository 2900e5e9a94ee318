from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import require_capability
from billing.selectors import client_statement
from clients.models import Client


@require_capability("portal.use")
def statement(request: HttpRequest) -> HttpResponse:
    client = Client.objects.filter(user=request.user).first()
    return render(request, "portal/statement.html", {
        "active": "statement", "client": client,
        "statement": client_statement(client.pk) if client else None})
