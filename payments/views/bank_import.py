"""Dashboard: import a bank statement (CSV). Upload → preview (nothing written: matched,
already recorded, unmatched rows with a box to pick the account, bad rows) → confirm, which
records the missing payments and shows what was created and what differs."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.permissions import require_capability
from majismart import uploads
from payments.bank_import import (
    MAX_BYTES,
    MSG_EMPTY,
    MSG_TOO_BIG,
    BankStatementError,
    bank_statement_import,
    bank_statement_parse,
    bank_statement_review,
)

KIND = "bank"
MSG_NO_FILE = "Choose the statement file (CSV) downloaded from your bank."
MSG_PICK_ERRORS = "Some account numbers you typed are no open account: correct them (or clear them). Nothing was recorded."
# What the page says it reads (the parser's COLUMNS, in words; it takes a few more spellings).
ACCEPTED = [("Date", "Transaction Date, Value Date, Date, Posting Date"),
            ("Narrative", "Narrative, Description, Details, Particulars, Narration, Remarks"),
            ("Money in", "Credit, Money In, Paid In, Deposits, or a signed Amount (money out negative)"),
            ("Money out (optional)", "Debit, Money Out, Withdrawals"),
            ("Reference (optional)", "Reference, Ref, Ref No, Bank Reference, Transaction Reference")]


class BankImportForm(forms.Form):
    file = forms.FileField(label="Bank statement (CSV)", error_messages={"required": MSG_NO_FILE},
                           help_text="Download it from your bank's online banking as CSV (comma-separated).")

    def clean_file(self) -> object:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise ValidationError(MSG_TOO_BIG)
        if not upload.size:
            raise ValidationError(MSG_EMPTY)
        return upload


def _assignments(post: object) -> dict[int, str]:
    """The account numbers typed against unmatched rows: field a-<line> → line."""
    return {int(name[2:]): str(value)[:40] for name, value in post.items()  # type: ignore[attr-defined]
            if name.startswith("a-") and name[2:].isdigit() and len(name) < 12}


def _page(request: HttpRequest, context: dict[str, object], status: int = 200) -> HttpResponse:
    return render(request, "payments/bank_import.html",
                  {"active": "payments", "accepted": ACCEPTED, **context}, status=status)


@require_http_methods(["GET", "POST"])
@require_capability("payments.record")
def payment_bank_import(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and "token" in request.POST:
        return _confirm(request)
    form = BankImportForm(request.POST, request.FILES) if request.method == "POST" else BankImportForm()
    context: dict[str, object] = {"form": form}
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["file"].name or ""
        context.update(uploads.preview(
            form, KIND, lambda kept: bank_statement_review(bank_statement_parse(kept), file_name=name),
            (BankStatementError,)))
    return _page(request, context, status=400 if form.errors else 200)


def _confirm(request: HttpRequest) -> HttpResponse:
    token = request.POST.get("token", "")
    kept = uploads.open_kept(token, KIND)
    if kept is None:
        messages.error(request, uploads.MSG_EXPIRED)
        return redirect("payment_bank_import")
    file_name = request.POST.get("file_name", "")[:200]
    assign = _assignments(request.POST)
    with kept:
        try:
            parsed = bank_statement_parse(kept)
        except BankStatementError as exc:  # it was read at the preview: only if the rules changed since
            uploads.discard(token, KIND)
            form = BankImportForm()
            form.add_error(None, str(exc))
            return _page(request, {"form": form}, status=400)
    review = bank_statement_import(parsed, assign=assign, file_name=file_name, actor=request.user)
    if review.assignment_errors:
        messages.error(request, MSG_PICK_ERRORS)
        return _page(request, {"form": BankImportForm(), "summary": review, "token": token, "file_name": file_name},
                     status=400)
    uploads.discard(token, KIND)
    return _page(request, {"form": BankImportForm(), "result": review, "file_name": file_name})
