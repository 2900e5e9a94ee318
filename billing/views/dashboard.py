"""Dashboard: tariffs (with a calculator), the billing-run wizard, invoices, credit notes,
adjustments and the billing rules."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import cast

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.permissions import has_capability, require_capability
from accounts.services import audit
from billing.documents import invoice_pdf, pdf_response, statement_pdf
from billing.models import BillingRun, BillingSettings, CreditNote, Invoice, Tariff
from billing.runs import (
    Period,
    billing_run_discard,
    billing_run_finalize,
    billing_run_recompute,
    billing_run_start,
    period_parse,
)
from billing.selectors import (
    INVOICE_STATES,
    invoice_search,
    invoices_with_dues,
    run_skipped,
    statement_range,
    statement_range_query,
    terms_of,
)
from billing.services import (
    adjustment_post,
    billing_rules_update,
    clean_billing_rules,
    clean_tariff,
    credit_note_create,
    entry_reverse,
    tariff_create,
)
from billing.tariffs import charge_for
from clients.models import Category, Client
from clients.sql import CATEGORIES, CLIENTS
from majismart.charts import bar_chart
from majismart.exports import Column, chunked, col, export_format, export_response, label
from majismart.money import exponent, kes
from meters.sql import ACCEPTED_READINGS, METERS
from notifications.models import NotificationSettings

BLOCK_ROWS = 6
PAGE_SIZE = 50


@require_capability("billing.view")
def tariff_list(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    tariffs = list(Tariff.objects.select_related("category").prefetch_related("blocks"))
    in_force = {}
    for t in sorted(tariffs, key=lambda t: t.effective_from):
        if t.effective_from <= today:
            in_force[t.category_id] = t.pk
    return render(request, "billing/tariffs.html", {
        "active": "billing", "tab": "tariffs", "tariffs": tariffs, "in_force": set(in_force.values()), "today": today,
        "can_manage": has_capability(request.user, "billing.manage_tariffs")})


@require_capability("billing.view")
def tariff_detail(request: HttpRequest, pk: int) -> HttpResponse:
    tariff = get_object_or_404(Tariff.objects.select_related("category").prefetch_related("blocks"), pk=pk)
    raw = request.GET.get("volume", "20")
    error, bill = "", None
    try:
        volume = Decimal(raw)
        if not volume.is_finite() or volume < 0 or exponent(volume) < -3:
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


def _statement_page(request: HttpRequest, client: Client, *, errors: dict | None = None, status: int = 200) -> HttpResponse:
    from billing.selectors import client_statement

    start, end = statement_range(request.GET)
    return render(request, "billing/statement.html", {
        "active": "clients", "client": client, "statement": client_statement(client.pk, start=start, end=end),
        "range": request.GET, "range_query": statement_range_query(start, end),
        "can_adjust": has_capability(request.user, "billing.run"),
        "errors": errors or {}, "data": request.POST if errors else {}}, status=status)


@require_capability("billing.view")
def client_statement_page(request: HttpRequest, pk: int) -> HttpResponse:
    client = get_object_or_404(Client, pk=pk)
    audit(actor=request.user, action="statement.viewed", object_repr=client.account_number, target=client)
    return _statement_page(request, client)


@require_capability("billing.view")
def client_statement_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    client = get_object_or_404(Client, pk=pk)
    start, end = statement_range(request.GET)
    audit(actor=request.user, action="statement.exported", object_repr=client.account_number, target=client,
          format="pdf", start=start.isoformat() if start else "", end=end.isoformat() if end else "")
    return pdf_response(statement_pdf(client, start, end), f"statement-{client.account_number}.pdf")


# --- billing runs: the wizard (period → preview with warnings → finalise) ----------------------
def _last_month() -> str:
    first = timezone.localdate().replace(day=1)
    previous = first - timedelta(days=1)
    return f"{previous.year:04d}-{previous.month:02d}"


def _suggested_period() -> str:
    """The latest ended period with an accepted reading in it, as a run takes a period's
    readings (read_at from the period's first Nairobi midnight up to, not including, the next
    period's: billing.runs.Period.lo/hi); the last ended month when there are none."""
    fallback = _last_month()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT to_char(max(r.read_at) AT TIME ZONE 'Africa/Nairobi', 'YYYY-MM') "  # noqa: S608 - our fragment
            f"FROM ({ACCEPTED_READINGS}) r JOIN ({METERS}) m ON m.id = r.meter_id "  # a bulk meter's: never billed
            "WHERE r.read_at < %s", [period_parse(fallback).hi])
        latest = cursor.fetchone()[0]
    return latest or fallback


# Categories whose tariffs all start after the period (so its clients have no tariff in force
# for it) and meters installed after the period's end: one statement, counted for the preview.
_ONBOARDING_SQL = f"""
SELECT 'tariff', c.name, min(t.effective_from), count(DISTINCT cl.id)
FROM ({CATEGORIES}) c
JOIN billing_tariff t ON t.category_id = c.id
JOIN ({CLIENTS}) cl ON cl.category_id = c.id AND cl.active
WHERE NOT EXISTS (SELECT 1 FROM billing_tariff t2 WHERE t2.category_id = c.id AND t2.effective_from <= %(end)s)
GROUP BY c.name
UNION ALL
SELECT 'meter', NULL, min(m.installed_on), count(*)
FROM ({METERS}) m JOIN ({CLIENTS}) cl ON cl.id = m.client_id AND cl.active
WHERE m.installed_on > %(end)s
HAVING count(*) > 0
ORDER BY 1 DESC, 2
"""  # noqa: S608 - our fragments; values are bound parameters


def _period_warnings(period: Period) -> list[str]:
    warnings = []
    with connection.cursor() as cursor:
        cursor.execute(_ONBOARDING_SQL, {"end": period.end})
        rows = cursor.fetchall()
    for kind, name, first, n in rows:
        if kind == "tariff":
            warnings.append(f"The {name} tariff starts on {first:%-d %b %Y}, after this period: its {n} "
                            f"active client{'s' if n != 1 else ''} ha{'ve' if n != 1 else 's'} no tariff in force "
                            f"for {period.label} and {'are' if n != 1 else 'is'} skipped.")
        else:
            warnings.append(f"{n} meter{'s were' if n != 1 else ' was'} installed after the period's end "
                            f"({period.end:%-d %b %Y}); {'they are' if n != 1 else 'it is'} not billed for "
                            f"{period.label}.")
    return warnings


CONTACTLESS_SHOWN = 5


def _finalize_warnings(run: BillingRun) -> dict[str, object]:
    """What finalising will not do: text the bills (SMS not set up) or reach clients with no
    phone and no email (the blind indexes are empty exactly when the encrypted fields are)."""
    contactless = (Invoice.objects.filter(run=run, client__phone_index="", client__email_index="")
                   .order_by("client__account_number").values_list("client_id", "client__account_number"))
    rows = list(contactless[:CONTACTLESS_SHOWN])
    count = len(rows) if len(rows) < CONTACTLESS_SHOWN else contactless.count()
    return {"sms_ready": NotificationSettings.load().sms_ready, "contactless_count": count,
            "contactless": [{"id": pk, "account": account} for pk, account in rows]}


def _runs_page(request: HttpRequest, *, suggested: str, errors: dict | None = None) -> HttpResponse:
    runs = list(BillingRun.objects.order_by("-period")[:36])
    chart = bar_chart([(r.period[2:], r.total) for r in sorted(runs, key=lambda r: r.period)[-12:]
                       if r.status == BillingRun.Status.FINALIZED], unit="KES")
    return render(request, "billing/runs.html", {
        "active": "billing", "tab": "runs", "runs": runs, "chart": chart, "suggested": suggested,
        "can_run": has_capability(request.user, "billing.run"), "errors": errors or {}},
        status=400 if errors else 200)


RUN_COLUMNS = [
    col("Period", "period"), Column("Status", lambda r: label(BillingRun.Status.choices)(r.status)),
    col("Invoices", "invoice_count", "int"), col("Total (KES)", "total", "money"), col("Computed", "computed_at", "datetime"),
    col("Finalised", "finalized_at", "datetime"), col("Finalised by", "finalized_by.full_name"),
]


@require_capability("billing.view")
def run_list(request: HttpRequest) -> HttpResponseBase:
    """The runs (the page shows the last 36; the download has every one)."""
    if fmt := export_format(request):
        runs = BillingRun.objects.select_related("finalized_by").order_by("-period")
        return export_response(fmt, "billing-runs", RUN_COLUMNS, chunked(runs), title="Billing runs")
    return _runs_page(request, suggested=_suggested_period())


@require_http_methods(["POST"])
@require_capability("billing.run")
def run_start(request: HttpRequest) -> HttpResponse:
    try:
        run, created = billing_run_start(period=request.POST.get("period", ""), actor=request.user)
    except ValidationError as exc:
        return _runs_page(request, suggested=request.POST.get("period", ""), errors=exc.message_dict)
    if not created:
        messages.info(request, f"A billing run for {run.period} already exists; here it is.")
    return redirect("run_detail", pk=run.pk)


@require_capability("billing.view")
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(BillingRun, pk=pk)
    period = period_parse(run.period)
    invoices = (invoices_with_dues(Invoice.objects.filter(run=run).select_related("client", "category"))
                .order_by("-total")[:15])
    categories = run.summary.get("categories", [])
    chart = bar_chart([(c["name"][:12], Decimal(c["total"])) for c in categories], unit="KES")
    can_run = has_capability(request.user, "billing.run")
    draft = run.status == BillingRun.Status.DRAFT
    return render(request, "billing/run_detail.html", {
        "active": "billing", "tab": "runs", "run": run, "period": period, "invoices": invoices,
        "categories": categories, "chart": chart, "skipped": run_skipped(run),
        "can_run": can_run, "period_warnings": _period_warnings(period) if draft else [],
        "finalize": _finalize_warnings(run) if draft and can_run else None})


@require_http_methods(["POST"])
@require_capability("billing.run")
def run_recompute(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(BillingRun, pk=pk)
    try:
        run = billing_run_recompute(run=run, actor=request.user)
        messages.success(request, f"Recomputed: {run.invoice_count} invoices, {kes(run.total)}.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("run_detail", pk=pk)


@require_http_methods(["POST"])
@require_capability("billing.run")
def run_finalize(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(BillingRun, pk=pk)
    if request.POST.get("confirm") != run.period:
        messages.error(request, f"Type the period ({run.period}) to confirm issuing these invoices.")
        return redirect("run_detail", pk=pk)
    try:
        run = billing_run_finalize(run=run, actor=request.user)
        messages.success(request, f"Issued {run.invoice_count} invoices for {run.period}, {kes(run.total)}.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("run_detail", pk=pk)


@require_http_methods(["POST"])
@require_capability("billing.run")
def run_discard(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(BillingRun, pk=pk)
    try:
        billing_run_discard(run=run, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("run_detail", pk=pk)
    messages.success(request, f"The draft for {run.period} was discarded; nothing was issued from it.")
    return redirect("run_list")


# --- invoices and credit notes -------------------------------------------------------------------
# The lists' downloads (?export=csv|xlsx): every row the filters match, as the page shows them.
INVOICE_COLUMNS = [
    col("Number", "number"), col("Account", "client.account_number"), col("Client", "client.full_name"),
    col("Period", "period"), col("Consumption (m³)", "consumption", "m3"), col("Total (KES)", "total", "money"),
    col("Credited (KES)", "credited", "money"), col("Balance due (KES)", "balance_due", "money"),
    col("Issued on", "issued_on", "date"), col("Due date", "due_date", "date"),
    Column("Status", lambda i: label(INVOICE_STATES)(i.state)),
]
CREDIT_NOTE_COLUMNS = [
    col("Number", "number"), col("Date", "issued_on", "date"), col("Invoice", "invoice.number"),
    col("Account", "client.account_number"), col("Client", "client.full_name"), col("Amount (KES)", "amount", "money"),
    col("Reason", "reason"), Column("By", lambda n: n.created_by.full_name if n.created_by else ""),
]


@require_capability("billing.view")
def invoice_list(request: HttpRequest) -> HttpResponseBase:
    q = request.GET
    invoices = invoice_search(period=q.get("period", ""), state=q.get("status", ""), query=q.get("q", ""),
                              run=q.get("run", ""), client=q.get("client", ""))
    if fmt := export_format(request):
        return export_response(fmt, "invoices", INVOICE_COLUMNS, chunked(invoices), title="Invoices")
    page = Paginator(invoices, PAGE_SIZE).get_page(q.get("page"))
    params = q.copy()
    params.pop("page", None)
    return render(request, "billing/invoices.html", {
        "active": "billing", "tab": "invoices", "page": page, "q": q, "querystring": params.urlencode(),
        "states": INVOICE_STATES, "periods": BillingRun.objects.order_by("-period").values_list("period", flat=True)})


def _invoice_page(request: HttpRequest, invoice: Invoice, *, errors: dict | None = None, status: int = 200) -> HttpResponse:
    invoice = invoices_with_dues(Invoice.objects.select_related("client", "category", "tariff", "run")).get(pk=invoice.pk)
    return render(request, "billing/invoice_detail.html", {
        "active": "billing", "tab": "invoices", "invoice": invoice, "lines": invoice.lines.all(), "meter_rows": list(invoice.meters.all()),
        "credit_notes": invoice.credit_notes.select_related("created_by"),
        "can_credit": has_capability(request.user, "billing.run") and invoice.status == Invoice.Status.ISSUED
        and invoice.total - invoice.credited > 0,
        "creditable": max(invoice.total - invoice.credited, Decimal(0)),
        "errors": errors or {}, "data": request.POST if errors else {}}, status=status)


@require_capability("billing.view")
def invoice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _invoice_page(request, get_object_or_404(Invoice, pk=pk))


@require_capability("billing.view")
def invoice_pdf_view(request: HttpRequest, pk: int) -> HttpResponse:
    # Drafts are working copies, not documents: only what was issued has a PDF.
    invoice = get_object_or_404(Invoice, pk=pk, status=Invoice.Status.ISSUED)
    audit(actor=request.user, action="invoice.exported", object_repr=cast(str, invoice.number),  # issued: numbered
          target=("client", invoice.client_id), format="pdf", invoice_id=invoice.pk)
    return pdf_response(invoice_pdf(invoice), f"{invoice.number}.pdf")


@require_http_methods(["POST"])
@require_capability("billing.run")
def invoice_credit(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = get_object_or_404(Invoice, pk=pk)
    try:
        note = credit_note_create(invoice=invoice, amount=request.POST.get("amount", ""),
                                  reason=request.POST.get("reason", ""), actor=request.user)
    except ValidationError as exc:
        return _invoice_page(request, invoice, errors=exc.message_dict, status=400)
    messages.success(request, f"Credit note {note.number} for {kes(note.amount)} issued.")
    return redirect("invoice_detail", pk=pk)


@require_capability("billing.view")
def credit_note_list(request: HttpRequest) -> HttpResponseBase:
    notes = CreditNote.objects.select_related("invoice", "client", "created_by").order_by("-id")
    if fmt := export_format(request):
        return export_response(fmt, "credit-notes", CREDIT_NOTE_COLUMNS, chunked(notes), title="Credit notes")
    page = Paginator(notes, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "billing/credit_notes.html", {"active": "billing", "tab": "credit_notes", "page": page,
                                                         "querystring": ""})


@require_http_methods(["POST"])
@require_capability("billing.run")
def client_adjust(request: HttpRequest, pk: int) -> HttpResponse:
    client = get_object_or_404(Client, pk=pk)
    try:
        entry = adjustment_post(client=client, amount=request.POST.get("amount", ""),
                                reason=request.POST.get("reason", ""), actor=request.user)
    except ValidationError as exc:
        return _statement_page(request, client, errors=exc.message_dict, status=400)
    messages.success(request, f"Adjustment {entry.reference} of {kes(entry.amount)} posted.")
    return redirect("client_statement", pk=pk)


@require_http_methods(["POST"])
@require_capability("billing.run")
def entry_reverse_view(request: HttpRequest, pk: int, entry_id: int) -> HttpResponse:
    from billing.models import LedgerEntry

    entry = get_object_or_404(LedgerEntry, pk=entry_id, client_id=pk)
    try:
        entry_reverse(entry=entry, reason=request.POST.get("reason", ""), actor=request.user)
        messages.success(request, f"{entry.reference} reversed.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("client_statement", pk=pk)


@require_http_methods(["GET", "POST"])
@require_capability("billing.view", POST="billing.manage_tariffs")
def billing_rules(request: HttpRequest) -> HttpResponse:
    rules = BillingSettings.load()
    can_manage = has_capability(request.user, "billing.manage_tariffs")
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied
        cleaned, errors = clean_billing_rules(request.POST)
        if not errors:
            billing_rules_update(actor=request.user, **cleaned)
            messages.success(request, "Billing rules saved; they apply from the next billing run.")
            return redirect("billing_rules")
    return render(request, "billing/rules.html", {"active": "billing", "tab": "rules", "rules": rules,
                                                  "errors": errors, "data": request.POST if errors else None,
                                                  "can_manage": can_manage}, status=400 if errors else 200)
