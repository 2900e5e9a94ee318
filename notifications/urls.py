from django.urls import path

from notifications.views import callbacks, dashboard

urlpatterns = [
    path("notifications/sms/delivery/<str:token>/", callbacks.delivery_report, name="sms_delivery_report"),
    path("dashboard/messages/", dashboard.message_list, name="message_list"),
    path("dashboard/messages/<int:pk>/", dashboard.message_detail, name="message_detail"),
    path("dashboard/messages/templates/", dashboard.template_list, name="template_list"),
    path("dashboard/messages/templates/<str:event>/<str:channel>/", dashboard.template_edit, name="template_edit"),
    path("dashboard/messages/settings/", dashboard.notification_settings, name="notification_settings"),
    path("dashboard/messages/settings/test/", dashboard.notification_test, name="notification_test"),
]
