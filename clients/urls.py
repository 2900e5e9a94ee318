from django.urls import path

from clients.views import broadcasts, dashboard, portal

urlpatterns = [
    path("dashboard/clients/new/", dashboard.client_new, name="client_new"),
    path("dashboard/clients/import/", dashboard.client_import, name="client_import"),
    path("dashboard/clients/settings/", dashboard.register_settings, name="register_settings"),
    path("dashboard/clients/<int:pk>/edit/", dashboard.client_edit, name="client_edit"),
    path("dashboard/clients/<int:pk>/message/", dashboard.client_message, name="client_message"),
    path("dashboard/clients/<int:pk>/preferences/", dashboard.client_preferences, name="client_preferences"),
    path("dashboard/messages/broadcasts/", broadcasts.broadcast_list, name="broadcast_list"),
    path("dashboard/messages/broadcasts/<int:pk>/", broadcasts.broadcast_detail, name="broadcast_detail"),
    path("dashboard/messages/broadcasts/<int:pk>/status/", broadcasts.broadcast_status, name="broadcast_status"),
    path("portal/messages/", portal.portal_messages, name="portal_messages"),
]
