from django.urls import path

from privacy.views import retention

urlpatterns = [
    path("dashboard/privacy/retention/", retention.retention_settings, name="privacy_retention"),
    path("dashboard/privacy/retention/preview/", retention.retention_preview, name="privacy_retention_preview"),
]
