"""The client's payment plan in the portal: see it, or ask for one."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from accounts.permissions import require_capability
from arrears.models import Disconnection
from arrears.selectors import client_plan
from arrears.services import clean_plan, plan_request
from billing.selectors import client_balance
from clients.selectors import own_client


@require_http_methods(["GET", "POST"])
@require_capability("portal.use")
def portal_plan(request: HttpRequest) -> HttpResponse:
    client = own_client(request.user)
    errors: dict[str, list[str]] = {}
    if request.method == "POST" and client is not None:
        cleaned, errors = clean_plan(request.POST, client_required=False)
        if not errors:
            try:
                plan_request(client=client, actor=request.user, **cleaned)
            except ValidationError as exc:
                errors = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
            else:
                messages.success(request, gettext("Thank you: we will look at your request and tell you by SMS."))
                return redirect("portal_plan")
    plan = client_plan(client.pk) if client else None
    return render(request, "portal/plan.html", {
        "active": "plan", "client": client, "plan": plan, "instalments": list(plan.instalments.all()) if plan else [],
        "balance": client_balance(client.pk) if client else None, "errors": errors,
        "data": request.POST if errors else {}}, status=400 if errors else 200)


def home_panel(request: HttpRequest) -> tuple[str, dict] | None:
    """The portal home's word on disconnection, when there is one under way: the date in the
    notice and what stops it, or, once disconnected, what reconnection asks (the balance, the
    reconnection fee in it, or a plan's down payment and the fee) and that it then comes by itself."""
    client = own_client(request.user)
    if client is None:
        return None
    item = (Disconnection.objects.filter(client=client).exclude(status__in=["cancelled", "reconnected", "not_done"])
            .order_by("-created", "-id").first())
    if item is None:
        return None
    plan = client_plan(client.pk)
    on_plan = plan is not None and plan.status == "active"
    return "portal/_arrears_panel.html", {"item": item, "balance": client_balance(client.pk), "plan": plan,
                                          "on_plan": on_plan}
