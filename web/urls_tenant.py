"""URLs of a provider's own domain (<slug>.BASE_DOMAIN): dashboard, portal, API."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.permissions import public
from web.views import clients, home
from web.views.language import language_switch

# The split view serves Swagger UI's start-up script as a file (the plain view inlines it, which
# the Content-Security-Policy refuses); Swagger UI's own inline styles and data: icons are
# allowed on this page alone.
api_docs = public(csp_update({"style-src": [UNSAFE_INLINE], "img-src": ["data:"]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")))

urlpatterns = [
    path("", include("payments.urls_callbacks")),  # first: the busiest URLs resolve in a few steps
    path("", include("accounts.urls")),
    path("", include("tenants.urls_tenant")),
    path("", include("notifications.urls")),
    path("", include("selfservice.urls")),  # Africa's Talking: USSD, incoming SMS
    path("language/<str:code>/", language_switch, name="language_switch"),
    path("dashboard/", home.home, name="dashboard"),
    path("portal/", home.portal_home, name="portal"),
    path("dashboard/clients/", clients.client_list, name="client_list"),
    path("dashboard/clients/<int:pk>/", clients.client_detail, name="client_detail"),
    path("dashboard/clients/<int:pk>/charge/", clients.client_charge, name="client_charge"),
    path("dashboard/clients/<int:pk>/charges/<int:charge_id>/reverse/", clients.client_charge_reverse,
         name="client_charge_reverse"),
    path("dashboard/clients/<int:pk>/close/", clients.client_close, name="client_close"),
    path("", include("clients.urls")),
    path("", include("meters.urls")),
    path("", include("billing.urls")),
    path("", include("payments.urls")),
    path("", include("fieldwork.urls")),
    path("", include("arrears.urls")),
    path("", include("reports.urls")),
    path("", include("privacy.urls")),
    path("", include("privacy.urls_retention")),
    path("", include("privacy.urls_policy")),
    path("api/v1/", include("web.urls_api")),
    path("api/schema/", public(SpectacularAPIView.as_view()), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
]
