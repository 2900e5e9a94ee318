"""A provider's URLs with one more in front: the bare baseline view, which answers what the C2B
confirmation answers and does nothing else (same middleware, same decorators, same URL shape)."""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments.views.callbacks import ACCEPTED
from web.urls_tenant import urlpatterns as tenant_urlpatterns


@csrf_exempt
@require_POST
def bare(request: HttpRequest, token: str) -> JsonResponse:
    return JsonResponse(ACCEPTED)


urlpatterns = [path("bench/bare/<str:token>/", bare), *tenant_urlpatterns]
