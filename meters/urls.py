from django.urls import path

from meters.views import alerts, dashboard, portal

urlpatterns = [
    path("dashboard/meters/", dashboard.meter_list, name="meter_list"),
    path("dashboard/meters/new/", dashboard.meter_new, name="meter_new"),
    path("dashboard/meters/<int:pk>/", dashboard.meter_detail, name="meter_detail"),
    path("dashboard/meters/<int:pk>/replace/", dashboard.meter_replace_view, name="meter_replace"),
    path("dashboard/meters/<int:pk>/reading/", dashboard.meter_reading, name="meter_reading"),
    path("dashboard/readings/", dashboard.reading_sheet, name="reading_sheet"),
    path("dashboard/readings/review/", dashboard.review_queue, name="review_queue"),
    path("dashboard/readings/review/<int:pk>/", dashboard.review_decide, name="review_decide"),
    path("dashboard/readings/<int:pk>/photo/", dashboard.reading_photo, name="reading_photo"),
    path("dashboard/readings/upload/<int:pk>/", dashboard.reading_import, name="reading_import"),
    path("dashboard/readings/upload/", dashboard.readings_upload, name="readings_upload"),
    path("dashboard/readings/leak-alerts/", alerts.leak_alerts, name="leak_alerts"),
    path("dashboard/readings/leak-alerts/<int:pk>/close/", alerts.leak_alert_close, name="leak_alert_close"),
    path("portal/usage/", portal.usage, name="portal_usage"),
    path("portal/reading/", portal.self_reading, name="portal_reading"),
]
