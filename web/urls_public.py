"""URLs of the platform's own domain (BASE_DOMAIN): the public site and Django admin."""

from django.contrib import admin
from django.urls import include, path

from privacy.views.policy import cookie_settings
from web.views.language import language_switch
from web.views.signup import signup

admin.site.site_header = "MajiSmart platform administration"
admin.site.site_title = "MajiSmart admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("signup/", signup, name="signup"),
    path("language/<str:code>/", language_switch, name="language_switch"),
    path("", include("tenants.urls_public")),
    path("cookies/", cookie_settings, name="cookie_settings"),  # the cookie notice's choice
]
