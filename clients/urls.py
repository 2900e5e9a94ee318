from django.urls import path

from clients.views import dashboard

urlpatterns = [
    path("dashboard/clients/", dashboard.client_list, name="client_list"),
    path("dashboard/clients/new/", dashboard.client_new, name="client_new"),
    path("dashboard/clients/import/", dashboard.client_import, name="client_import"),
    path("dashboard/clients/settings/", dashboard.register_settings, name="register_settings"),
    path("dashboard/clients/<int:pk>/", dashboard.client_detail, name="client_detail"),
    path("dashboard/clients/<int:pk>/edit/", dashboard.client_edit, name="client_edit"),
]
