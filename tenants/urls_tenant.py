from django.urls import path

from accounts.permissions import SIGNED_IN, access
from tenants.views import dashboard

urlpatterns = [
    path("dashboard/settings/", dashboard.settings_page, name="settings"),
    path("dashboard/settings/branding/", dashboard.branding, name="branding"),
    # Any signed-in user of this provider (the view answers 404 to anyone else).
    path("branding/logo/", access(SIGNED_IN)(dashboard.provider_logo), name="provider_logo"),
    path("dashboard/settings/api-keys/", dashboard.api_key_new, name="api_key_new"),
    path("dashboard/settings/api-keys/<str:prefix>/revoke/", dashboard.api_key_revoke_view, name="api_key_revoke"),
]
