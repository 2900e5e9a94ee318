"""Dashboard pages of the client register (its list and the client page, which show meters,
readings and money too, are web.views.clients)."""

from __future__ import annotations

import io

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.permissions import has_capability, require_capability
from accounts.services import audit
from clients.forms import AccountNumberForm, CategoryForm, ClientForm, ImportForm, ZoneForm
from clients.imports import ClientImportError, clients_import
from clients.models import Category, Client, ClientSettings, Zone
from clients.services import client_create, client_update
from majismart import uploads
from notifications.models import CONTACT_TOPICS, Channel, Message
from notifications.services import Outgoing, consent_record, notify
from notifications.text import mask_recipient


@require_http_methods(["GET", "POST"])
@require_capability("clients.manage")
def client_new(request: HttpRequest) -> HttpResponse:
    form = ClientForm(request.POST or None, initial={"status": "active", "category": "domestic", "opening_balance": "0.00"})
    if request.method == "POST" and form.is_valid():
        try:
            client = client_create(actor=request.user, **form.cleaned)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Client {client.account_number} created.")
            return redirect("client_detail", pk=client.pk)
    return render(request, "clients/form.html", {"active": "clients", "form": form, "title": "New client"},
                  status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@require_capability("clients.manage")
def client_edit(request: HttpRequest, pk: int) -> HttpResponse:
    client = get_object_or_404(Client.objects.select_related("category", "zone"), pk=pk)
    form = ClientForm(request.POST or None, initial=ClientForm.initial_for(client), editing=True)
    if request.method == "GET":
        audit(actor=request.user, action="client.viewed", object_repr=client.account_number, target=client,
              page="edit")
    if request.method == "POST" and form.is_valid():
        try:
            client_update(client=client, actor=request.user, **form.cleaned)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Client updated.")
            return redirect("client_detail", pk=client.pk)
    return render(request, "clients/form.html", {"active": "clients", "form": form, "client": client,
                                                 "title": f"Edit {client.account_number}"},
                  status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@require_capability("clients.manage")
def client_import(request: HttpRequest) -> HttpResponse:
    """Upload → preview (nothing written) → import of the valid rows."""
    context: dict[str, object] = {"active": "clients", "form": ImportForm()}
    if request.method == "POST" and "token" in request.POST:
        kept = uploads.open_kept(request.POST["token"], "clients")
        if kept is None:
            messages.error(request, uploads.MSG_EXPIRED)
            return redirect("client_import")
        with kept:
            summary = clients_import(io.StringIO(uploads.decode_text(kept.read())), actor=request.user)
        uploads.discard(request.POST["token"], "clients")
        messages.success(request, f"Imported {summary.created} clients; {summary.error_count} rows skipped.")
        return redirect("client_list")
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        context["form"] = form
        if form.is_valid():
            context.update(uploads.preview(
                form, "clients",
                lambda kept: clients_import(io.StringIO(uploads.decode_text(kept.read())),
                                            actor=request.user, dry_run=True),
                (ClientImportError, UnicodeDecodeError)))
    return render(request, "clients/import.html", context)


@require_http_methods(["GET", "POST"])
@require_capability("clients.view", POST="clients.manage")
def register_settings(request: HttpRequest) -> HttpResponse:
    """Categories and zones (routes): the provider adds its own."""
    can_manage = has_capability(request.user, "clients.manage")
    numbering = ClientSettings.load()
    category_form, zone_form = CategoryForm(prefix="cat"), ZoneForm(prefix="zone")
    account_form = AccountNumberForm(instance=numbering, prefix="acc")
    if request.method == "POST":
        if not can_manage:
            return HttpResponse(status=403)
        if "acc-account_prefix" in request.POST:
            account_form = AccountNumberForm(request.POST, instance=numbering, prefix="acc")
            if account_form.is_valid():
                account_form.save()
                audit(actor=request.user, action="clients.numbering_changed", object_repr=str(numbering),
                      **{k: str(v) for k, v in account_form.cleaned_data.items()})
                messages.success(request, f"New account numbers will look like {numbering.format(numbering.next_account_number)}.")
                return redirect("register_settings")
        elif "cat-code" in request.POST:
            category_form = CategoryForm(request.POST, prefix="cat")
            if category_form.is_valid():
                category = category_form.save()
                audit(actor=request.user, action="clients.category_added", object_repr=category.code,
                      target=category)
                messages.success(request, "Category added.")
                return redirect("register_settings")
        else:
            zone_form = ZoneForm(request.POST, prefix="zone")
            if zone_form.is_valid():
                zone = zone_form.save()
                audit(actor=request.user, action="clients.zone_added", object_repr=zone.code, target=zone)
                messages.success(request, "Zone added.")
                return redirect("register_settings")
    return render(request, "clients/register_settings.html", {
        "active": "clients", "categories": Category.objects.all(), "zones": Zone.objects.all(),
        "category_form": category_form, "zone_form": zone_form, "can_manage": can_manage,
        "account_form": account_form, "example": numbering.format(numbering.next_account_number)})


MSG_MESSAGE_EMPTY = "Write the message."
MSG_NO_ADDRESS = "This client has no {what}."


@require_http_methods(["POST"])
@require_capability("messages.send")
def client_message(request: HttpRequest, pk: int) -> HttpResponse:
    """A one-off SMS or email to this client from staff (an account message, audited)."""
    client = get_object_or_404(Client, pk=pk)
    channel, text = request.POST.get("channel", ""), request.POST.get("text", "").strip()
    address = {"sms": client.phone, "email": client.email}.get(channel)
    if address is None:
        messages.error(request, "Choose SMS or email.")
    elif not text:
        messages.error(request, MSG_MESSAGE_EMPTY)
    elif not address:
        messages.error(request, MSG_NO_ADDRESS.format(what="phone number" if channel == "sms" else "email address"))
    else:
        key = f"{client.pk}:{timezone.now().timestamp():.6f}"
        provider = request.tenant  # type: ignore[attr-defined]  # django-tenants' middleware sets it
        values = {"provider": provider.name, "name": client.full_name, "account": client.account_number,
                  "text": text}
        ids = notify(event="account_message", channel=channel, outgoing=[Outgoing(key, address, values, client.pk)])
        audit(actor=request.user, action="client.messaged", object_repr=client.account_number, target=client,
              channel=channel)
        sent = Message.objects.filter(dedup_key=f"account_message:{channel}:{key}").first()
        if sent is None:
            messages.error(request, f"{Channel(channel).label} is not set up for this provider.")
        elif sent.status == Message.Status.SKIPPED:
            messages.warning(request, f"Not sent: {sent.note}")
        else:
            when = "queued" if ids else sent.note.lower().rstrip(".")
            messages.success(request, f"{Channel(channel).label} to {mask_recipient(address)} {when}.")
    return redirect("client_detail", pk=client.pk)


@require_http_methods(["POST"])
@require_capability("clients.manage")
def client_preferences(request: HttpRequest, pk: int) -> HttpResponse:
    """Record what the client told staff (by phone, at the office) about being contacted."""
    client = get_object_or_404(Client, pk=pk)
    choices: dict[str, bool] = {topic: request.POST.get(topic) == "on" for topic in CONTACT_TOPICS}
    if consent_record(client_id=client.pk, choices=choices, source="staff", actor=request.user):
        messages.success(request, "The client's message choices are saved.")
    return redirect("client_detail", pk=client.pk)
