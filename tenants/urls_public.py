from django.urls import path

from tenants.views import public

urlpatterns = [
    path("", public.landing, name="landing"),
    path("signup/", public.signup, name="signup"),
    path("login/", public.find_provider, name="find_provider"),
    path("privacy/", public.privacy, name="privacy"),
    path("terms/", public.terms, name="terms"),
]
