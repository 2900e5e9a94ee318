"""The client's service requests in the portal: report a problem (with a photo), follow it."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from accounts.permissions import require_capability
from clients.selectors import own_client
from fieldwork.forms import PortalRequestForm
from fieldwork.models import ServiceRequest
from fieldwork.services import service_request_create


@require_http_methods(["GET", "POST"])
@require_capability("portal.use")
def portal_requests(request: HttpRequest) -> HttpResponse:
    client = own_client(request.user)
    if client is None:
        return render(request, "portal/requests.html", {"active": "requests", "client": None})
    form = PortalRequestForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        made = service_request_create(client=client, kind=data["kind"], description=data["description"],
                                      photo=data["photo"], channel=ServiceRequest.Channel.PORTAL, actor=request.user)
        messages.success(request, gettext("Thank you. Your report %(reference)s was received; we will keep you posted "
                                          "by SMS.") % {"reference": made.reference})
        return redirect("portal_requests")
    mine = ServiceRequest.objects.filter(client=client).order_by("-created", "-id")[:50]
    return render(request, "portal/requests.html", {"active": "requests", "client": client, "form": form,
                                                    "requests": mine}, status=400 if form.errors else 200)
