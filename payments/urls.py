from django.urls import path

from payments.views import callbacks, dashboard

urlpatterns = [
    path("payments/mpesa/c2b/validation/<str:token>/", callbacks.c2b_validation, name="c2b_validation"),
    path("payments/mpesa/c2b/confirmation/<str:token>/", callbacks.c2b_confirmation, name="c2b_confirmation"),
    path("dashboard/payments/", dashboard.payment_list, name="payment_list"),
    path("dashboard/payments/<int:pk>/", dashboard.payment_detail, name="payment_detail"),
    path("dashboard/payments/<int:pk>/reconcile/", dashboard.payment_reconcile, name="payment_reconcile"),
]
