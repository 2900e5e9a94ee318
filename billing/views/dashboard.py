"""Dashboard: tariffs, with a calculator showing the bill for any volume."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.permissions import has_capability, require_capability
from billing.models import Tariff
from billing.selectors import terms_of
from billing.services import clean_tariff, tariff_create
from billing.tariffs import charge_for
from clients.models import Category

BLOCK_ROWS = 6


@require_capability("billing.view")
def tariff_list(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    tariffs = list(Tariff.objects.select_related("category").prefetch_related("blocks"))
    in_force = {}
    for t in sorted(tariffs, key=lambda t: t.effective_from):
        if t.effective_from <= today:
            in_force[t.category_id] = t.pk
    return render(request, "billing/tariffs.html", {
        "active": "billing", "tariffs": tariffs, "in_force": set(in_force.values()), "today": today,
        "can_manage": has_capability(request.user, "billing.manage_tariffs")})


@require_capability("billing.view")
def tariff_detail(request: HttpRequest, pk: int) -> HttpResponse:
    tariff = get_object_or_404(Tariff.objects.select_related("category").prefetch_related("blocks"), pk=pk)
    raw = request.GET.get("volume", "20")
    error, bill = "", None
    try:
        volume = Decimal(raw)
        if not volume.is_finite() or volume < 0 or volume.as_tuple().exponent < -3:
            raise InvalidOperation
        bill = charge_for(terms_of(tariff), volume)
    except InvalidOperation:
        error = "Enter a volume in m³ (up to 3 decimals), e.g. 35."
    return render(request, "billing/tariff_detail.html", {"active": "billing", "tariff": tariff, "bill": bill,
                                                          "volume": raw, "error": error},
                  status=400 if error else 200)


@require_http_methods(["GET", "POST"])
@require_capability("billing.manage_tariffs")
def tariff_new(request: HttpRequest) -> HttpResponse:
    data = request.POST
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        blocks = [{"up_to": data.get(f"up_to_{i}", "").strip() or None, "price": data.get(f"price_{i}", "").strip()}
                  for i in range(BLOCK_ROWS) if data.get(f"price_{i}", "").strip()]
        cleaned, errors = clean_tariff({**{k: data.get(k) for k in (
            "code", "name", "category", "effective_from", "fixed_charge", "meter_rent", "sewerage_percent",
            "minimum_charge")}, "blocks": blocks})
        if not errors:
            tariff = tariff_create(actor=request.user, **cleaned)
            messages.success(request, f"Tariff {tariff.name} saved, in force from {tariff.effective_from:%d %b %Y}.")
            return redirect("tariff_detail", pk=tariff.pk)
    return render(request, "billing/tariff_form.html", {
        "active": "billing", "errors": errors, "data": data, "rows": [(i, data.get(f"up_to_{i}", ""), data.get(f"price_{i}", "")) for i in range(BLOCK_ROWS)],
        "categories": Category.objects.all(), "today": timezone.localdate().isoformat()},
        status=400 if errors else 200)


@require_capability("billing.view")
def client_statement_page(request: HttpRequest, pk: int) -> HttpResponse:
    from billing.selectors import client_statement
    from clients.models import Client

    client = get_object_or_404(Client, pk=pk)
    return render(request, "billing/statement.html", {"active": "clients", "client": client,
                                                      "statement": client_statement(client.pk)})
