from django.urls import path

from tenants.views import public

urlpatterns = [
    path("", public.landing, name="landing"),
    path("login/", public.find_provider, name="find_provider"),
    path("privacy/", public.privacy, name="privacy"),
    path("privacy/<str:version>/", public.privacy, name="privacy_version"),
    path("terms/", public.terms, name="terms"),
    path("terms/<str:version>/", public.terms, name="terms_version"),
]
