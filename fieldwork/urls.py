"""The fieldwork pages (dashboard, portal); included by web.urls_tenant."""

from django.urls import path

from fieldwork.views import dashboard, leak, portal

urlpatterns = [
    path("dashboard/requests/", dashboard.request_list, name="request_list"),
    path("dashboard/requests/service-levels/", dashboard.service_levels, name="service_levels"),
    path("dashboard/requests/new/", dashboard.request_new, name="request_new"),
    path("dashboard/requests/<int:pk>/", dashboard.request_detail, name="request_detail"),
    path("dashboard/requests/<int:pk>/photo/", dashboard.request_photo, name="request_photo"),
    path("dashboard/field/", dashboard.field_list, name="field_list"),
    path("dashboard/work-orders/", dashboard.work_order_list, name="work_order_list"),
    path("dashboard/work-orders/<int:pk>/", dashboard.work_order_detail, name="work_order_detail"),
    path("dashboard/work-orders/<int:pk>/not-done/", dashboard.work_order_not_done_view, name="work_order_not_done"),
    path("dashboard/work-orders/<int:pk>/assign/", dashboard.work_order_assign_view, name="work_order_assign"),
    path("dashboard/work-orders/<int:pk>/photo/", dashboard.work_order_photo, name="work_order_photo"),
    path("portal/requests/", portal.portal_requests, name="portal_requests"),
    path("leak/<str:token>/", leak.leak_report_view, name="leak_report"),
]
