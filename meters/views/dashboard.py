"""Dashboard pages for meters and readings: register, replacement, the route entry sheet,
the review queue and CSV upload."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import BinaryIO, cast
from urllib.parse import urlencode

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.permissions import has_capability, require_capability
from clients.models import Client, Zone
from majismart import uploads
from majismart.exports import chunked, export_format, export_response
from meters.exports import METER_COLUMNS, REVIEW_COLUMNS
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
    meters = Meter.objects.select_related("client", "zone").order_by("serial")
    if q := request.GET.get("q", "").strip():
        meters = meters.filter(serial__icontains=q) | meters.filter(client__account_number__istartswith=q)
    kind = request.GET.get("kind", "")
    if kind in Meter.Kind.values:
        meters = meters.filter(kind=kind)
    else:
        kind = ""
    if fmt := export_format(request):
        return export_response(fmt, "meters", METER_COLUMNS, chunked(meters), title="Meters")  # type: ignore[return-value]
    page = Paginator(meters, 50).get_page(request.GET.get("page"))
    return render(request, "meters/list.html", {"active": "meters", "page": page, "q": q, "kind": kind,
                                                "kinds": Meter.Kind.choices,
                                                "querystring": urlencode({k: v for k, v in (("q", q), ("kind", kind)) if v}),
                                                "can_manage": has_capability(request.user, "meters.manage")})


@require_capability("clients.view")
def meter_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A meter: its facts, its readings, and (for those who record readings) a reading form."""
    meter = get_object_or_404(Meter.objects.select_related("client", "zone", "replaced_by"), pk=pk)
    readings = list(meter.readings.select_related("recorded_by").order_by("-read_at")[:READINGS_SHOWN])
    return render(request, "meters/detail.html", {"active": "meters", "meter": meter, "readings": readings,
                                                  "values": {}, "errors": {}})


READINGS_SHOWN = 24
ENTRY_FIELDS = ("value", "read_on", "read_time", "reason", "note", "opened_at")
MSG_READ_ON = "Give the date of the reading."
MSG_SAVED = "Reading {value} m³ saved for meter {serial}: {used} m³ used."
MSG_SAVED_FLAGGED = "Reading {value} m³ saved for meter {serial}, flagged for review: {flags}."
MSG_REPEAT = "That reading ({value} m³ at that time) was already saved."


def _entry_time(values: dict[str, str]) -> str:
    """The reading's time as the form gives it (a minute). Left at the minute the form was
    opened, it is that moment to the second, as the route sheet's: a reading saved on the sheet
    a few seconds before is not "later" than this one, and the form sent twice repeats itself."""
    opened = timezone.localtime(_sheet_time(values["opened_at"]))
    if values["read_on"] == f"{opened:%Y-%m-%d}" and values["read_time"] == f"{opened:%H:%M}":
        return opened.isoformat()
    return f"{values['read_on']}T{values['read_time']}" if values["read_time"] else values["read_on"]


def _reading_back(meter: Meter, where: str) -> str:
    if where == "client" and meter.client_id is not None:
        return reverse("client_detail", args=[meter.client_id])
    return reverse("meter_detail", args=[meter.pk])


@require_http_methods(["GET", "POST"])
@require_capability("readings.record")
def meter_reading(request: HttpRequest, pk: int) -> HttpResponse:
    """One reading of one meter, from its page or its client's page, through the same pipeline
    as the route sheet (meters.services.readings_record); its errors come back on this form."""
    meter = get_object_or_404(Meter.objects.select_related("client", "zone"), pk=pk)
    data = request.POST if request.method == "POST" else request.GET
    back = "client" if data.get("back") == "client" else "meter"
    values = {name: str(data.get(name, "")).strip()[:300] for name in ENTRY_FIELDS}
    errors: dict[str, list[str]] = {}
    if request.method == "POST" and not values["read_on"]:
        errors["read_at"] = [MSG_READ_ON]
    elif request.method == "POST":
        read_at = _entry_time(values)
        row = {"meter": meter.serial, "value": values["value"], "read_at": read_at, "reason": values["reason"],
               "note": values["note"]}
        result = readings_record([row], source=Reading.Source.MANUAL, user=request.user)
        if result.errors:
            for name, messages_ in result.errors[0]["errors"].items():
                known = name in ("value", "read_at", "reason", "note")
                errors.setdefault(name if known else "detail", []).extend(messages_)
        else:
            done = (result.created or result.repeats)[0]
            if done.repeat:
                text = MSG_REPEAT.format(value=values["value"])
            elif done.status == Reading.Status.FLAGGED:
                labels = dict(Reading.Flag.choices)
                text = MSG_SAVED_FLAGGED.format(value=values["value"], serial=meter.serial,
                                                flags="; ".join(labels.get(f, f) for f in done.flags))
            else:
                text = MSG_SAVED.format(value=values["value"], serial=meter.serial, used=done.consumption)
            messages.success(request, text)
            return redirect(_reading_back(meter, back))
    last = meter.readings.exclude(status=Reading.Status.REJECTED).order_by("-read_at").first()
    return render(request, "meters/reading.html", {
        "active": "meters", "meter": meter, "values": values, "errors": errors, "back": back, "last": last,
        "back_url": _reading_back(meter, back)}, status=400 if errors else 200)


@require_http_methods(["GET", "POST"])
@require_capability("meters.manage")
def meter_new(request: HttpRequest) -> HttpResponse:
    initial: dict[str, object] = {"installed_on": timezone.localdate()}
    if client_id := request.GET.get("client"):
        client = Client.objects.filter(pk=client_id).first() if client_id.isdigit() else None
        if client:
            initial["client"] = client.account_number
    if request.GET.get("kind") == Meter.Kind.BULK:  # "add a bulk meter" from a zone
        initial["kind"] = Meter.Kind.BULK
        initial["zone"] = request.GET.get("zone", "")
    form = MeterForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            meter = meter_create(actor=request.user, serial=data["serial"], client=data["client"],
                                 kind=data["kind"], zone=data["zone"],
                                 installed_on=data["installed_on"], initial_reading=data["initial_reading"],
                                 dial_capacity=data["dial_capacity"])
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Meter {meter.serial} added.")
            return redirect(_owner_page(meter))
    return render(request, "meters/form.html", {"active": "meters", "form": form, "title": "New meter"},
                  status=400 if form.errors else 200)


def _owner_page(meter: Meter) -> str:
    """Where a meter's changes are seen: its client's page, or (a bulk meter) its own."""
    if meter.client_id is None:
        return reverse("meter_detail", args=[meter.pk])
    return reverse("client_detail", args=[meter.client_id])


@require_http_methods(["GET", "POST"])
@require_capability("meters.manage")
def meter_replace_view(request: HttpRequest, pk: int) -> HttpResponse:
    meter = get_object_or_404(Meter.objects.select_related("client", "zone"), pk=pk)
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
            return redirect(_owner_page(meter))
    return render(request, "meters/replace.html", {"active": "meters", "form": form, "meter": meter},
                  status=400 if form.errors else 200)


# The route sheet's two choices besides a zone: not slugs, so no zone's code can take them.
ALL_CLIENTS = "*all"
NO_ZONE = "*none"
SHEET_PAGE = 200


def _route(zones: list[Zone], chosen: str) -> tuple[str, Zone | None, str]:
    """(the choice, its zone if it is one, its name). A provider without zones starts on all
    clients; one with zones on its first zone, as before."""
    if chosen in (ALL_CLIENTS, NO_ZONE):
        return chosen, None, "All clients" if chosen == ALL_CLIENTS else "No zone"
    zone = next((z for z in zones if z.code == chosen), None)
    if zone is None and not chosen and zones:
        zone = zones[0]
    if zone is None:
        return ALL_CLIENTS, None, "All clients"
    return zone.code, zone, zone.name


@require_http_methods(["GET", "POST"])
@require_capability("readings.record")
def reading_sheet(request: HttpRequest) -> HttpResponse:
    """A meter reader's route: every active meter of a zone (or of clients in no zone, or of
    all clients), the zone's bulk meters first, then in account order, one box each; long
    routes in pages of SHEET_PAGE."""
    zones = list(Zone.objects.all())
    zone_code, zone, route_name = _route(zones, request.GET.get("zone", ""))
    last = Reading.objects.filter(meter=OuterRef("pk")).exclude(status=Reading.Status.REJECTED).order_by("-read_at")
    bulk = Q(kind=Meter.Kind.BULK)
    on_route = Meter.objects.filter(Q(client__status=Client.Status.ACTIVE) | bulk, status=Meter.Status.ACTIVE)
    if zone is not None:
        on_route = on_route.filter(Q(client__zone=zone) | Q(zone=zone))
    elif zone_code == NO_ZONE:
        on_route = on_route.filter(client__zone__isnull=True, kind=Meter.Kind.CLIENT)
    ordered = (on_route.select_related("client", "zone")
               .order_by(F("client__account_number").asc(nulls_first=True), "serial")  # bulk meters first
               .annotate(last_value=Subquery(last.values("value")[:1]), last_at=Subquery(last.values("read_at")[:1])))
    page = Paginator(ordered, SHEET_PAGE).get_page(request.GET.get("page"))
    meters = list(page.object_list)
    here = f"{request.path}?{urlencode({'zone': zone_code, **({'page': page.number} if page.number > 1 else {})})}"
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
            return redirect(here)
    return render(request, "meters/sheet.html", {
        "active": "readings", "zones": zones, "zone": zone, "zone_code": zone_code, "route_name": route_name,
        "all_clients": ALL_CLIENTS, "no_zone": NO_ZONE, "meters": meters, "page": page,
        "querystring": urlencode({"zone": zone_code}), "outcome": outcome, "opened_at": opened_at.isoformat()})


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
    flagged = (Reading.objects.filter(status=Reading.Status.FLAGGED)
               .select_related("meter__client", "meter__zone", "recorded_by")
               .order_by("read_at"))
    if fmt := export_format(request):
        return export_response(fmt, "readings-to-review", REVIEW_COLUMNS, chunked(flagged),  # type: ignore[return-value]
                               title="Readings to review")
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
def reading_photo(request: HttpRequest, pk: int) -> FileResponse:
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
                                           lambda kept: readings_import(cast(BinaryIO, kept),  # opened "rb"
                                                                          user=request.user, dry_run=True),
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
