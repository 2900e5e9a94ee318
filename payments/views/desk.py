"""Dashboard: the cash desk. A cash, bank or cheque payment recorded by staff, checked as the
API checks it (payments.office.manual_payment_clean) and recorded by the same service, so
it is allocated, posted and its receipt sent by SMS and email alike."""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.permissions import require_capability
from accounts.services import audit
from clients.models import Client
from clients.selectors import client_search
from payments.office import manual_payment_clean
from payments.services import payment_record

SEARCH_LIMIT = 10
MSG_DATE = "Give the date (and time) of the payment."
METHODS = [("cash", "Cash"), ("bank", "Bank transfer or deposit"), ("cheque", "Cheque")]


def _token(raw: str) -> str:
    """The form's one-time token (hex): a double submit carries the same one."""
    raw = (raw or "").strip()
    return raw if 16 <= len(raw) <= 64 and all(ch in "0123456789abcdef" for ch in raw) else ""


def cash_receipt(token: str) -> str:
    """The receipt reference of a cash payment given none: made from the form's token, so the
    same form sent twice names the same receipt and records it once."""
    return f"CASH-{token[:10].upper()}"


@require_http_methods(["GET", "POST"])
@require_capability("payments.record")
def payment_record_view(request: HttpRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else request.GET
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        token = _token(data.get("token", ""))
        paid_on, paid_time = (data.get("paid_on") or "").strip(), (data.get("paid_time") or "").strip()
        fields = {k: data.get(k, "") for k in ("client", "amount", "method", "reference")}
        fields["paid_at"] = f"{paid_on}T{paid_time or '00:00'}" if paid_on else ""
        cleaned, errors = manual_payment_clean(fields, reference_optional_for=("cash",), paid_at_format=MSG_DATE)
        if not paid_on and "paid_at" not in errors:
            errors["paid_at"] = [MSG_DATE]
        if not token:
            errors.setdefault("detail", ["This form has expired: it was filled again below, send it once more."])
        if not errors:
            reference = cleaned["reference"] or cash_receipt(token)
            recorded = payment_record(method=cleaned["method"], receipt=reference, amount=cleaned["amount"],
                                      paid_at=cleaned["paid_at"], client=cleaned["client"], actor=request.user)
            payment = recorded.payment
            if recorded.created or (payment.client_id == cleaned["client"].pk and payment.amount == cleaned["amount"]):
                if recorded.created:
                    messages.success(request, f"{payment.get_method_display()} payment {payment.receipt} recorded; "
                                              "the receipt is on its way to the client.")
                return redirect("payment_detail", pk=payment.pk)
            errors["reference"] = [f"Reference {reference} is already recorded for another "
                                   f"{payment.get_method_display().lower()} payment."]
    else:
        token = secrets.token_hex(16)
    client = None
    client_id = (data.get("client") or "").strip()
    if client_id.isdigit():
        client = Client.objects.filter(pk=int(client_id)).first()
    query = (request.GET.get("q") or "").strip()
    found: list[Client] = []
    if query and client is None:
        found = list(client_search(query=query)[:SEARCH_LIMIT])
        audit(actor=request.user, action="clients.searched", object_repr=f"{len(found)} clients shown",
              client_ids=[c.pk for c in found], page="cash desk")
    now = timezone.localtime()
    values = {"amount": data.get("amount", ""), "method": data.get("method", "cash"),
              "reference": data.get("reference", ""), "paid_on": data.get("paid_on", f"{now:%Y-%m-%d}"),
              "paid_time": data.get("paid_time", f"{now:%H:%M}")}
    if request.method == "POST":
        values = {k: str(v).replace("\x00", "") for k, v in values.items()}
    return render(request, "payments/record.html", {
        "active": "payments", "client": client, "query": query, "found": found, "searched": bool(query),
        "errors": errors, "values": values, "token": token, "methods": METHODS,
        "today": f"{now:%Y-%m-%d}"}, status=400 if errors else 200)

