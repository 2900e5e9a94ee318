"""Dashboard → Audit log: who saw or changed what, when, from where (owner and manager), and how
long the log is kept (the retention policy): the privacy promise of accountability, shown."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

from accounts.audit_display import ACTION_LABELS, action_label, details
from accounts.models import AuditCategory
from accounts.permissions import require_capability
from accounts.selectors import AUDIT_TARGETS, AuditFilters, audit_search
from majismart.exports import Column, chunked, col, export_format, export_response, label
from privacy.models import RetentionPolicy

PAGE_SIZE = 50
# The log's download (?export=csv|xlsx): every event the filters match, as the page shows them.
AUDIT_COLUMNS = [
    col("When", "created", "datetime"), col("Who", "actor"),
    Column("Category", lambda e: label(AuditCategory.choices)(e.category)),
    Column("What", lambda e: action_label(e.action)), col("Action", "action"), col("About", "object_repr"),
    col("Record type", "target_type"), col("Record id", "target_id", "int"),
    Column("Details", lambda e: "; ".join(f"{k}: {v}" for k, v in details(
        e.extra_data if isinstance(e.extra_data, dict) else {}))),
    col("IP address", "ip"),
]


def _target_link(event: object) -> str:
    target = AUDIT_TARGETS.get(getattr(event, "target_type", ""))
    if target is None or not target.url_name or getattr(event, "target_id", None) is None:
        return ""
    try:
        return reverse(target.url_name, args=[event.target_id])  # type: ignore[attr-defined]
    except NoReverseMatch:
        return ""


@require_capability("audit.view")
def audit_log(request: HttpRequest) -> HttpResponseBase:
    q = request.GET
    filters = AuditFilters.from_query(q)
    if fmt := export_format(request):
        return export_response(fmt, "audit-log", AUDIT_COLUMNS, chunked(audit_search(filters)),
                               title="Audit log")
    page = Paginator(audit_search(filters), PAGE_SIZE).get_page(q.get("page"))
    for event in page:
        # Display attributes for the template.
        event.link = _target_link(event)  # type: ignore[attr-defined]
        event.action_label = action_label(event.action)  # type: ignore[attr-defined]
        event.details = details(  # type: ignore[attr-defined]
            event.extra_data if isinstance(event.extra_data, dict) else {})
    params = q.copy()
    params.pop("page", None)
    return render(request, "accounts/audit_list.html", {
        "active": "audit", "page": page, "q": q, "filters": filters, "querystring": params.urlencode(),
        "categories": AuditCategory.choices, "action_choices": sorted(ACTION_LABELS.items()),
        # Read, never created here (RetentionPolicy.load would insert the row on a first visit).
        "audit_months": (RetentionPolicy.objects.values_list("audit_months", flat=True).first()
                         or RetentionPolicy._meta.get_field("audit_months").default),
        "target_label": AUDIT_TARGETS[filters.target_type].label if filters.target_type in AUDIT_TARGETS else "",
    })
