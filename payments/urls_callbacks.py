"""Payment callbacks, resolved first on a provider's domain (they are its busiest URLs).

shared/API.md's paths, and the same without "mpesa": Safaricom refuses to register a URL
carrying the word, so those are the ones we register."""

from django.urls import path

from payments.views import callbacks

urlpatterns = [
    path("payments/mpesa/c2b/validation/<str:token>/", callbacks.c2b_validation, name="c2b_validation"),
    path("payments/mpesa/c2b/confirmation/<str:token>/", callbacks.c2b_confirmation, name="c2b_confirmation"),
    path("payments/mpesa/stk/callback/<str:token>/", callbacks.stk_callback, name="stk_callback"),
    path("payments/c2b/validation/<str:token>/", callbacks.c2b_validation),
    path("payments/c2b/confirmation/<str:token>/", callbacks.c2b_confirmation),
    path("payments/stk/callback/<str:token>/", callbacks.stk_callback),
    path("payments/paystack/webhook/", callbacks.paystack_webhook, name="paystack_webhook"),
]
