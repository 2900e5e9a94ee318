"""The report pages (Dashboard → Reports; owner, manager and accountant: `reports.view`). Each page
downloads its tables with `?export=csv` or `?export=xlsx` and the same filters."""

from django.urls import path

from reports.views import aging, billing, collections, consumption, nrw, overview, readings, regulator

urlpatterns = [
    path("dashboard/reports/", overview.overview, name="reports"),
    path("dashboard/reports/collections/", collections.page, name="report_collections"),
    path("dashboard/reports/aging/", aging.page, name="report_aging"),
    path("dashboard/reports/billing/", billing.page, name="report_billing"),
    path("dashboard/reports/consumption/", consumption.page, name="report_consumption"),
    path("dashboard/reports/readings/", readings.page, name="report_readings"),
    path("dashboard/reports/nrw/", nrw.page, name="report_nrw"),
    path("dashboard/reports/regulator/", regulator.page, name="report_regulator"),
]
