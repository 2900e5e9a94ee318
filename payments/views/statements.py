"""Dashboard: upload an M-Pesa statement for a date range; the page shows what was found, what
was recorded and what differs (the page is the report; the audit row keeps the counts)."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.permissions import require_capability
from payments.statements import (
    MAX_BYTES,
    MSG_TOO_BIG,
    StatementError,
    statement_range_check,
    statement_reconcile,
)

MSG_NO_FILE = "Choose the statement file (CSV) exported from the M-Pesa Org portal."


class StatementForm(forms.Form):
    file = forms.FileField(label="Statement (CSV)", error_messages={"required": MSG_NO_FILE},
                           help_text="M-Pesa Org portal → Org statements → export as CSV.")
    date_from = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}),
                              help_text="Whole days, Nairobi time: the period the statement covers.")

    def clean_file(self) -> object:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise ValidationError(MSG_TOO_BIG)
        return upload

    def clean(self) -> dict[str, Any]:
        data = cast(dict[str, Any], super().clean())  # Form.clean() returns cleaned_data
        if data.get("date_from") and data.get("date_to"):
            try:
                statement_range_check(data["date_from"], data["date_to"])
            except ValidationError as exc:
                for name, messages in exc.message_dict.items():
                    for message in messages:
                        self.add_error(name, message)
        return data


def _initial() -> dict[str, date]:
    today = timezone.localdate()
    return {"date_from": today.replace(day=1), "date_to": today}


@require_http_methods(["GET", "POST"])
@require_capability("payments.record")
def payment_statement(request: HttpRequest) -> HttpResponse:
    result = None
    if request.method == "POST":
        form = StatementForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                result = statement_reconcile(upload=data["file"], date_from=data["date_from"],
                                             date_to=data["date_to"], actor=request.user)
            except StatementError as exc:
                form.add_error("file", str(exc))
            else:
                form = StatementForm(initial={"date_from": data["date_from"], "date_to": data["date_to"]})
    else:
        form = StatementForm(initial=_initial())
    return render(request, "payments/statement.html", {"active": "payments", "form": form, "result": result},
                  status=400 if form.errors else 200)
