"""Dashboard → Messages: the delivery log, the templates (with preview, SMS parts and cost), and
the SMS and email settings with a test send."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.permissions import require_capability
from majismart.charts import bar_chart
from majismart.crypto import masked_secret
from majismart.exports import Column, chunked, col, export_format, export_response, label
from majismart.phones import normalize_phone
from majismart.urls import domain_url
from notifications.catalog import EVENTS
from notifications.models import Channel, Message, MessageTemplate, NotificationSettings
from notifications.selectors import message_search
from notifications.services import (
    SECRET_FIELDS,
    preview,
    settings_update,
    template_reset,
    template_save,
    template_text,
    test_send,
)
from notifications.text import mask_recipient

PAGE_SIZE = 50


def _month_summary() -> dict[str, object]:
    start = timezone.localdate().replace(day=1)
    totals = Message.objects.filter(created__date__gte=start).aggregate(
        sms=Count("id", filter=Q(channel=Channel.SMS) & ~Q(status=Message.Status.SKIPPED)),
        email=Count("id", filter=Q(channel=Channel.EMAIL) & ~Q(status=Message.Status.SKIPPED)),
        delivered=Count("id", filter=Q(status=Message.Status.DELIVERED)),
        failed=Count("id", filter=Q(status=Message.Status.FAILED)),
        waiting=Count("id", filter=Q(status__in=[Message.Status.QUEUED, Message.Status.SENDING])),
        cost=Sum("cost"))
    return {**totals, "cost": totals["cost"] or Decimal("0")}


def _daily_chart() -> dict[str, object]:
    today = timezone.localdate()
    first = today - timedelta(days=29)
    counts = dict(Message.objects.filter(created__date__gte=first).exclude(status=Message.Status.SKIPPED)
                  .annotate(day=TruncDate("created")).values("day").annotate(n=Count("id")).values_list("day", "n"))
    days = [first + timedelta(days=i) for i in range(30)]
    return bar_chart([(d.strftime("%d") if d.day % 5 == 0 or d == today else "", Decimal(counts.get(d, 0)))
                      for d in days], unit="messages")


# The log's download (?export=csv|xlsx): every message the filters match, recipients masked as
# on the page.
MESSAGE_COLUMNS = [
    col("Created", "created", "datetime"), Column("Channel", lambda m: label(Channel.choices)(m.channel)),
    Column("Event", lambda m: EVENTS[m.event].label if m.event in EVENTS else m.event),
    Column("To", lambda m: mask_recipient(m.recipient) if m.recipient else ""),
    Column("Status", lambda m: label(Message.Status.choices)(m.status)), col("Note", "note"),
    col("Segments", "segments", "int"), col("Cost", "cost", "ratio"), col("Sent", "sent_at", "datetime"),
    col("Delivered", "delivered_at", "datetime"),
]


@require_capability("messages.view")
def message_list(request: HttpRequest) -> HttpResponseBase:
    q = request.GET
    if fmt := export_format(request):
        return export_response(fmt, "messages", MESSAGE_COLUMNS, chunked(message_search(q)),
                               title="Messages")
    page = Paginator(message_search(q), PAGE_SIZE).get_page(q.get("page"))
    for m in page:
        m.shown_to = mask_recipient(m.recipient) if m.recipient else ""  # type: ignore[attr-defined]  # for the template
    params = q.copy()
    params.pop("page", None)
    return render(request, "notifications/list.html", {
        "active": "messages", "tab": "log", "page": page, "q": q, "querystring": params.urlencode(),
        "channels": Channel.choices, "statuses": Message.Status.choices,
        "events": [(e.key, e.label) for e in EVENTS.values()], "summary": _month_summary(), "chart": _daily_chart()})


@require_capability("messages.view")
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    msg = get_object_or_404(Message.objects.select_related("broadcast"), pk=pk)
    return render(request, "notifications/detail.html", {
        "active": "messages", "tab": "log", "message": msg, "event": EVENTS.get(msg.event),
        "shown_to": mask_recipient(msg.recipient) if msg.recipient else "",
        "reports": msg.reports.order_by("received")})


@require_capability("messages.view")
def template_list(request: HttpRequest) -> HttpResponse:
    overrides = {(t.event, t.channel, t.language): (t.subject, t.body) for t in MessageTemplate.objects.all()}
    cfg = NotificationSettings.load()
    rows = []
    for ev in EVENTS.values():
        versions = []
        for channel in ev.channels:
            for language, language_name in settings.LANGUAGES:  # each language's wording, SMS parts and cost
                subject, body = template_text(ev, channel, overrides, language)
                versions.append({"channel": channel, "language": language, "language_name": language_name,
                                 "custom": (ev.key, channel, language) in overrides, "preview": preview(
                    event=ev.key, channel=channel, subject=subject, body=body, provider_name=request.tenant.name)})  # type: ignore[attr-defined]  # django-tenants' middleware sets it
        rows.append({"event": ev, "versions": versions})
    return render(request, "notifications/templates.html", {
        "active": "messages", "tab": "templates", "rows": rows, "cfg": cfg})


@require_http_methods(["GET", "POST"])
@require_capability("messages.send")
def template_edit(request: HttpRequest, event: str, channel: str) -> HttpResponse:
    ev = EVENTS.get(event)
    languages = dict(settings.LANGUAGES)
    language = request.POST.get("language") or request.GET.get("language") or "en"
    if ev is None or channel not in ev.channels or language not in languages:
        raise Http404
    subject, body = template_text(ev, channel, language=language)
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        if "reset" in request.POST:
            template_reset(event=event, channel=channel, actor=request.user, language=language)
            messages.success(request, f"“{ev.label}” ({channel.upper()}, {languages[language]}) is back to the default wording.")
            return redirect("template_list")
        subject, body = request.POST.get("subject", ""), request.POST.get("body", "")
        if "save" in request.POST:
            try:
                template_save(event=event, channel=channel, subject=subject, body=body, actor=request.user,
                              language=language)
            except ValidationError as exc:
                errors, status = exc.message_dict, 400
            else:
                messages.success(request, f"“{ev.label}” ({channel.upper()}, {languages[language]}) saved.")
                return redirect("template_list")
    shown = preview(event=event, channel=channel, subject=subject, body=body, provider_name=request.tenant.name)  # type: ignore[attr-defined]  # django-tenants' middleware sets it
    return render(request, "notifications/template_edit.html", {
        "active": "messages", "tab": "templates", "event": ev, "channel": channel, "subject": subject, "body": body,
        "preview": shown, "errors": errors, "placeholders": sorted(ev.allowed()),
        "language": language, "language_name": languages[language], "languages": settings.LANGUAGES,
        "custom": MessageTemplate.objects.filter(event=event, channel=channel, language=language).exists(),
        "cost_per_segment": NotificationSettings.load().sms_cost_per_segment}, status=status)


def _settings_page(request: HttpRequest, cfg: NotificationSettings, *, errors: dict | None = None,
                   status: int = 200, test: Message | None = None) -> HttpResponse:
    return render(request, "notifications/settings.html", {
        "active": "messages", "tab": "settings", "cfg": cfg, "errors": errors or {},
        "data": request.POST if errors else {}, "secrets": {n: masked_secret(getattr(cfg, n)) for n in SECRET_FIELDS},
        "delivery_url": domain_url(request.tenant.domain, f"/notifications/sms/delivery/{cfg.delivery_token}/"),  # type: ignore[attr-defined]  # django-tenants' middleware sets it
        "environments": NotificationSettings.Environment.choices,
        "zero_bill_choices": NotificationSettings.ZeroBill.choices, "test": test}, status=status)


@require_http_methods(["GET", "POST"])
@require_capability("settings.manage")
def notification_settings(request: HttpRequest) -> HttpResponse:
    cfg = NotificationSettings.load()
    if request.method == "POST":
        try:
            settings_update(cfg=cfg, data=request.POST, actor=request.user)
        except ValidationError as exc:
            return _settings_page(request, cfg, errors=exc.message_dict, status=400)
        messages.success(request, "SMS and email settings saved.")
        return redirect("notification_settings")
    return _settings_page(request, cfg)


@require_POST
@require_capability("settings.manage")
def notification_test(request: HttpRequest) -> HttpResponse:
    cfg = NotificationSettings.load()
    channel = request.POST.get("channel", "")
    raw = request.POST.get("recipient", "").strip()
    try:
        if channel == Channel.SMS:
            recipient = normalize_phone(raw)
            if not cfg.sms_ready:
                raise ValidationError({"recipient": ["Save the Africa's Talking username and API key first."]})
        elif channel == Channel.EMAIL:
            from django.core.validators import validate_email

            validate_email(raw)
            recipient = raw.lower()
        else:
            raise Http404
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"recipient": exc.messages}
        return _settings_page(request, cfg, errors={f"test_{k}": v for k, v in errors.items()}, status=400)
    msg = test_send(channel=channel, recipient=recipient, actor=request.user)
    return _settings_page(request, cfg, test=msg)
