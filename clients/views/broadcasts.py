"""Dashboard → Messages → Broadcasts: write, see who it reaches and what it costs, send, follow
the progress."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from accounts.permissions import require_capability
from clients.broadcasts import PURPOSES, broadcast_create, broadcast_estimate, broadcast_progress
from clients.models import Category, Zone
from notifications.models import Broadcast, Channel, NotificationSettings


def _form_data(request: HttpRequest) -> dict:
    post = request.POST
    return {"title": post.get("title", ""), "purpose": post.get("purpose", ""), "channels": post.getlist("channels"),
            "sms_text": post.get("sms_text", ""), "email_subject": post.get("email_subject", ""),
            "email_text": post.get("email_text", ""), "zones": post.getlist("zones"),
            "categories": post.getlist("categories"), "include_disconnected": post.get("include_disconnected") == "on"}


@require_http_methods(["GET", "POST"])
@require_capability("messages.send")
def broadcast_list(request: HttpRequest) -> HttpResponse:
    data: dict = {"channels": [Channel.SMS], "purpose": "supply"}
    errors: dict[str, list[str]] = {}
    estimate = None
    status = 200
    if request.method == "POST":
        data = _form_data(request)
        try:
            if "send" in request.POST:
                broadcast = broadcast_create(data=data, actor=request.user)
                messages.success(request, f"“{broadcast.title}” is being sent to {broadcast.total} clients.")
                return redirect("broadcast_detail", pk=broadcast.pk)
            estimate = broadcast_estimate(data)
        except ValidationError as exc:
            errors, status = exc.message_dict, 400
    page = Paginator(Broadcast.objects.order_by("-created"), 20).get_page(request.GET.get("page"))
    return render(request, "clients/broadcasts.html", {
        "active": "messages", "tab": "broadcasts", "data": data, "errors": errors, "estimate": estimate,
        "zones": Zone.objects.all(), "categories": Category.objects.all(), "purposes": PURPOSES, "page": page,
        "querystring": "", "cfg": NotificationSettings.load()}, status=status)


@require_capability("messages.send")
def broadcast_detail(request: HttpRequest, pk: int) -> HttpResponse:
    broadcast = get_object_or_404(Broadcast, pk=pk)
    return render(request, "clients/broadcast_detail.html", {
        "active": "messages", "tab": "broadcasts", "broadcast": broadcast, "progress": broadcast_progress(broadcast)})


@require_capability("messages.send")
def broadcast_status(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(broadcast_progress(get_object_or_404(Broadcast, pk=pk)))
