"""The arrears pages (dashboard, portal); included by web.urls_tenant."""

from django.urls import path

from arrears.views import dashboard, portal

urlpatterns = [
    path("dashboard/arrears/", dashboard.candidate_list, name="arrears_candidates"),
    path("dashboard/arrears/disconnections/", dashboard.disconnection_list, name="disconnection_list"),
    path("dashboard/arrears/plans/", dashboard.plan_list, name="plan_list"),
    path("dashboard/arrears/plans/new/", dashboard.plan_new, name="plan_new"),
    path("dashboard/arrears/plans/<int:pk>/", dashboard.plan_detail, name="plan_detail"),
    path("dashboard/arrears/settings/", dashboard.arrears_settings, name="arrears_settings"),
    path("dashboard/arrears/write-offs/", dashboard.write_off_list, name="write_off_list"),
    path("portal/plan/", portal.portal_plan, name="portal_plan"),
]
