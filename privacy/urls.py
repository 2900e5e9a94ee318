from django.urls import path

from privacy.views import audit, dashboard, portal

urlpatterns = [
    path("dashboard/audit/", audit.audit_log, name="audit_log"),
    path("portal/privacy/", portal.privacy_centre, name="privacy_centre"),
    path("portal/privacy/exports/<int:pk>/status/", portal.export_status, name="privacy_export_status"),
    path("portal/privacy/exports/<str:token>/", portal.export_download, name="privacy_export_download"),
    path("dashboard/privacy/requests/", dashboard.request_list, name="privacy_requests"),
    path("dashboard/privacy/requests/new/", dashboard.request_record, name="privacy_request_record"),
    path("dashboard/privacy/requests/<int:pk>/", dashboard.request_detail, name="privacy_request"),
    path("dashboard/privacy/export/", dashboard.provider_export, name="privacy_provider_export"),
    path("dashboard/privacy/export/<int:pk>/status/", dashboard.provider_export_status,
         name="privacy_provider_export_status"),
    path("dashboard/privacy/export/<str:token>/download/", dashboard.provider_export_download,
         name="privacy_provider_export_download"),
]
