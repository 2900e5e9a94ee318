"""Dashboard: the fee catalogue (Settings → Fees): the provider's fees and deposits, added and
edited by owners and managers, read by whoever sees billing."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from accounts.permissions import has_capability, require_capability
from billing.fees import clean_fee, fee_create, fee_update, fees_seed_starter
from billing.models import Fee


def _page(request: HttpRequest, *, errors: dict[str, list[str]] | None = None, data: object = None,
          status: int = 200) -> HttpResponse:
    return render(request, "billing/fees.html", {
        "active": "settings", "fees": Fee.objects.order_by("-active", "kind", "code"), "kinds": Fee.Kind.choices,
        "can_manage": has_capability(request.user, "fees.manage"), "errors": errors or {}, "data": data or {}},
        status=status)


@require_http_methods(["GET", "POST"])
@require_capability("billing.view", POST="fees.manage")
def fee_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if request.POST.get("starter"):
            created = fees_seed_starter(actor=request.user)
            messages.success(request, f"{created} usual fees added: change their amounts to yours.")
            return redirect("fee_list")
        cleaned, errors = clean_fee(request.POST)
        if errors:
            return _page(request, errors=errors, data=request.POST, status=400)
        fee = fee_create(actor=request.user, **cleaned)
        messages.success(request, f"Fee “{fee.name}” added.")
        return redirect("fee_list")
    return _page(request)


@require_http_methods(["GET", "POST"])
@require_capability("billing.view", POST="fees.manage")
def fee_edit(request: HttpRequest, pk: int) -> HttpResponse:
    fee = get_object_or_404(Fee, pk=pk)
    can_manage = has_capability(request.user, "fees.manage")
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied
        cleaned, errors = clean_fee(request.POST, fee=fee)
        if not errors:
            fee_update(fee=fee, actor=request.user, active=bool(request.POST.get("active")), **cleaned)
            messages.success(request, f"Fee “{cleaned['name']}” saved.")
            return redirect("fee_list")
    return render(request, "billing/fee_form.html", {
        "active": "settings", "fee": fee, "kinds": Fee.Kind.choices, "can_manage": can_manage, "errors": errors,
        "data": request.POST if errors else {"code": fee.code, "name": fee.name, "amount": fee.amount,
                                             "kind": fee.kind, "active": fee.active}},
        status=400 if errors else 200)
