from django.urls import path

from payments.views import callbacks

urlpatterns = [
    path("payments/mpesa/c2b/validation/<str:token>/", callbacks.c2b_validation, name="c2b_validation"),
    path("payments/mpesa/c2b/confirmation/<str:token>/", callbacks.c2b_confirmation, name="c2b_confirmation"),
]
