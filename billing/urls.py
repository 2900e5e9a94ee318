from django.urls import path

from billing.views import dashboard, portal

urlpatterns = [
    path("dashboard/billing/tariffs/", dashboard.tariff_list, name="tariff_list"),
    path("dashboard/billing/tariffs/new/", dashboard.tariff_new, name="tariff_new"),
    path("dashboard/billing/tariffs/<int:pk>/", dashboard.tariff_detail, name="tariff_detail"),
    path("dashboard/clients/<int:pk>/statement/", dashboard.client_statement_page, name="client_statement"),
    path("portal/statement/", portal.statement, name="portal_statement"),
]
