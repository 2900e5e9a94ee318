"""Dashboard pages for meters and readings: register, replacement, the route entry sheet,
the review queue and CSV upload."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.permissions import has_capability, require_capability
from clients.models import Client, Zone
from majismart import uploads
from meters.forms import MeterForm, ReadingsImportForm, ReplaceForm
from meters.imports import ImportFormatError, readings_import
from meters.models import Meter, Reading, ReadingImport
from meters.services import (
    import_progress_key,
    meter_create,
    meter_replace,
    reading_review,
    readings_record,
)
from meters.tasks import import_readings_task
from meters.views.portal import PHOTO_TYPES


def _form_errors(form, exc: ValidationError) -> None:  # type: ignore[no-untyped-def]
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@require_capability("clients.view")
def meter_list(request: HttpRequest) -> HttpResponse:
    meters = Meter.objects.select_related("client").order_by("serial")
    if q := request.GET.get("q", "").strip():
        meters = meters.filter(serial__icontains=q) | meters.filter(client__account_number__istartswith=q)
    page = Paginator(meters, 50).get_page(request.GET.get("page"))
    return render(request, "meters/list.html", {"active": "meters", "page": page, "q": q,
                                                "querystring": f"q={q}" if q else "",
                                                "can_manage": has_capability(request.user, "meters.manage")})


@require_http_methods(["GET", "POST"])
@require_capability("meters.manage")
def meter_new(request: HttpRequest) -> HttpResponse:
    initial = {"installed_on": timezone.localdate()}
    if client_id := request.GET.get("client"):
        client = Client.objects.filter(pk=client_id).first() if client_id.isdigit() else None
        if client:
            initial["client"] = client.account_number
    form = MeterForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            meter = meter_create(actor=request.user, serial=data["serial"], client=data["client"],
                                 installed_on=data["installed_on"], initial_reading=data["initial_reading"],
                                 dial_capacity=data["dial_capacity"])
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Meter {meter.serial} added.")
            return redirect("client_detail", pk=meter.client_id)
    return render(request, "meters/form.html", {"active": "meters", "form": form, "title": "New meter"},
                  status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@require_capability("meters.manage")
def meter_replace_view(request: HttpRequest, pk: int) -> HttpResponse:
    meter = get_object_or_404(Meter.objects.select_related("client"), pk=pk)
    form = ReplaceForm(request.POST or None, initial={"replaced_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            new = meter_replace(actor=request.user, meter=meter, final_reading=data["final_reading"],
                                replaced_at=data["replaced_at"], new_serial=data["new_serial"],
                                new_initial_reading=data["new_initial_reading"])
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Meter {meter.serial} replaced by {new.serial}.")
            return redirect("client_detail", pk=meter.client_id)
    return render(request, "meters/replace.html", {"active": "meters", "form": form, "meter": meter},
                  status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@require_capability("readings.record")
def reading_sheet(request: HttpRequest) -> HttpResponse:
    """A meter reader's route: every active meter of a zone, in account order, one box each."""
    zones = list(Zone.objects.all())
    zone_code = request.GET.get("zone") or (zones[0].code if zones else "")
    zone = next((z for z in zones if z.code == zone_code), None)
    last = Reading.objects.filter(meter=OuterRef("pk")).exclude(status=Reading.Status.REJECTED).order_by("-read_at")
    meters = list(
        Meter.objects.filter(status=Meter.Status.ACTIVE, client__zone=zone, client__status=Client.Status.ACTIVE)
        .select_related("client").order_by("client__account_number", "serial")
        .annotate(last_value=Subquery(last.values("value")[:1]), last_at=Subquery(last.values("read_at")[:1]))
    ) if zone else []
    outcome: dict[str, dict[str, object]] = {}
    opened_at = _sheet_time(request.POST.get("opened_at", "")) if request.method == "POST" else timezone.now()
    if request.method == "POST":
        # Every reading of a sheet carries the moment the sheet was opened, so saving it again
        # (a reload, a double tap) repeats the same readings instead of adding new ones.
        rows = [{"meter": m.serial, "value": request.POST.get(f"v-{m.pk}", "").strip(), "read_at": opened_at,
                 "note": request.POST.get(f"n-{m.pk}", "")}
                for m in meters if request.POST.get(f"v-{m.pk}", "").strip()]
        result = readings_record(rows, source=Reading.Source.MANUAL, user=request.user)
        for r in result.created:
            outcome[rows[r.index]["meter"]] = {"ok": True, "status": r.status, "consumption": r.consumption,
                                               "flags": r.flags}
        for e in result.errors:
            outcome[rows[int(e["index"])]["meter"]] = {"ok": False, "errors": e["errors"],
                                                       "value": rows[int(e["index"])]["value"]}
        saved = len(result.created)
        if saved:
            messages.success(request, f"Saved {saved} reading{'s' if saved != 1 else ''}"
                                      f"{'; ' + str(len(result.errors)) + ' need correcting' if result.errors else ''}.")
        elif result.errors:
            messages.error(request, "Nothing saved: correct the highlighted readings.")
        if not result.errors:
            return redirect(f"{request.path}?zone={zone_code}")
    return render(request, "meters/sheet.html", {"active": "readings", "zones": zones, "zone": zone,
                                                 "meters": meters, "outcome": outcome,
                                                 "opened_at": opened_at.isoformat()})


def _sheet_time(text: str) -> datetime:
    now = timezone.now()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return now
    if timezone.is_naive(moment) or moment > now or now - moment > timedelta(hours=12):
        return now
    return moment


@require_capability("readings.review")
def review_queue(request: HttpRequest) -> HttpResponse:
    flagged = (Reading.objects.filter(status=Reading.Status.FLAGGED).select_related("meter__client", "recorded_by")
               .order_by("read_at"))
    page = Paginator(flagged, 50).get_page(request.GET.get("page"))
    return render(request, "meters/review.html", {"active": "readings", "page": page, "querystring": "",
                                                  "flag_labels": dict(Reading.Flag.choices)})


@require_POST
@require_capability("readings.review")
def review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    reading = get_object_or_404(Reading, pk=pk, status=Reading.Status.FLAGGED)
    accept = request.POST.get("decision") == "accept"
    try:
        reading_review(reading=reading, accept=accept, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("review_queue")
    messages.success(request, f"Reading {'accepted' if accept else 'rejected'}.")
    return redirect("review_queue")


@require_capability("readings.review")
def reading_photo(request: HttpRequest, pk: int) -> HttpResponse:
    """Photos are personal data: served only to staff who review, never from a public path."""
    reading = get_object_or_404(Reading, pk=pk)
    kind = reading.photo.name.rsplit(".", 1)[-1].lower() if reading.photo else ""
    if kind not in PHOTO_TYPES:
        raise Http404
    response = FileResponse(reading.photo.open("rb"), content_type=PHOTO_TYPES[kind])
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_http_methods(["GET", "POST"])
@require_capability("readings.record")
def readings_upload(request: HttpRequest) -> HttpResponse:
    context: dict[str, object] = {"active": "readings", "form": ReadingsImportForm()}
    if request.method == "POST" and "token" in request.POST:
        kept = uploads.open_kept(request.POST["token"], "readings")
        if kept is None:
            messages.error(request, uploads.MSG_EXPIRED)
            return redirect("readings_upload")
        with kept:
            lines = sum(block.count(b"\n") for block in iter(lambda: kept.read(1 << 20), b""))
        job, created = ReadingImport.objects.get_or_create(
            token=request.POST["token"],
            defaults={"total_rows": max(lines - 1, 0), "file_name": request.POST.get("file_name", "")[:200],
                      "created_by": request.user})
        if created:  # a second click on "Import" shows the same job, it does not start another
            # Big files take a while: a worker imports, this page shows progress.
            transaction.on_commit(lambda: import_readings_task.delay(job.pk))
        return redirect("reading_import", pk=job.pk)
    if request.method == "POST":
        form = ReadingsImportForm(request.POST, request.FILES)
        context["form"] = form
        if form.is_valid():
            context.update(uploads.preview(form, "readings",
                                           lambda kept: readings_import(kept, user=request.user, dry_run=True),
                                           (ImportFormatError,)))
    return render(request, "meters/upload.html", context)


@require_capability("readings.record")
def reading_import(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ReadingImport, pk=pk)
    done = cache.get(import_progress_key(job.pk), 0) if job.status == ReadingImport.Status.RUNNING else (
        job.total_rows if job.status == ReadingImport.Status.DONE else 0)
    percent = min(100, int(100 * done / job.total_rows)) if job.total_rows else (100 if job.status == "done" else 0)
    state = {"status": job.status, "rows_done": done, "total_rows": job.total_rows, "percent": percent,
             "summary": job.summary if job.status in ("done", "failed") else None}
    if request.GET.get("format") == "json":
        return JsonResponse(state)
    return render(request, "meters/import_job.html", {"active": "readings", "job": job, "state": state,
                                                      "can_review": has_capability(request.user, "readings.review")})
