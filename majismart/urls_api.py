from django.urls import path

from accounts import api as accounts_api
from tenants import api as tenants_api

urlpatterns = [
    path("provider/", tenants_api.ProviderDetailApi.as_view(), name="api-provider"),
    path("me/", accounts_api.WhoAmIApi.as_view(), name="api-me"),
]
