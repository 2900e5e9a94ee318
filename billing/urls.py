from django.urls import path

from billing.views import dashboard

urlpatterns = [
    path("dashboard/billing/tariffs/", dashboard.tariff_list, name="tariff_list"),
    path("dashboard/billing/tariffs/new/", dashboard.tariff_new, name="tariff_new"),
    path("dashboard/billing/tariffs/<int:pk>/", dashboard.tariff_detail, name="tariff_detail"),
]
