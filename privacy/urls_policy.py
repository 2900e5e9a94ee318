"""The policy part of privacy on a provider's domain: acceptance, texts, cookies, registration."""

from django.urls import path

from privacy.views import policy

urlpatterns = [
    path("accounts/policy/", policy.policy_accept_view, name="policy_accept"),
    path("accounts/register/", policy.register_start, name="register"),
    path("accounts/register/code/", policy.register_finish, name="register_finish"),
    path("privacy/", policy.privacy_document, name="privacy"),
    path("privacy/<str:version>/", policy.privacy_document, name="privacy_version"),
    path("terms/", policy.terms_document, name="terms"),
    path("terms/<str:version>/", policy.terms_document, name="terms_version"),
    path("cookies/", policy.cookie_settings, name="cookie_settings"),
]
