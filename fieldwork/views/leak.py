"""The page a leak alert's link opens, without logging in: what the readings showed, and one
button that reports it as a leak (a service request, made once however often it is pressed)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.permissions import public
from fieldwork.models import ServiceRequest
from fieldwork.services import leak_report
from meters.alerts import leak_link_episode

MSG_BAD_LINK = "This link is not valid or has expired."


@public  # the link's token is the credential
@never_cache
@require_http_methods(["GET", "POST"])
def leak_report_view(request: HttpRequest, token: str) -> HttpResponse:
    episode = leak_link_episode(token)
    if episode is None:
        raise Http404(MSG_BAD_LINK)
    if request.method == "POST":
        leak_report(episode=episode, note=request.POST.get("note", ""))
        return redirect("leak_report", token=token)  # a reload shows the report, never makes another
    report = (ServiceRequest.objects.filter(reference=episode.report_reference).first()
              if episode.reported_at else None)
    response = render(request, "fieldwork/leak_report.html", {
        "episode": episode, "client": episode.meter.client, "report": report})
    # Same-origin (the site's policy), not no-referrer: browsers then send "Origin: null" with the
    # form's POST and CSRF refuses it. The page links nowhere else, so the token stays here.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex"
    return response
