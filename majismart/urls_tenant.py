"""URLs of a provider's own domain (<slug>.BASE_DOMAIN): dashboard, portal, API."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("", include("payments.urls_callbacks")),  # first: the busiest URLs resolve in a few steps
    path("", include("accounts.urls")),
    path("api/v1/", include("majismart.urls_api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
