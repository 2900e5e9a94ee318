"""The arrears pages (dashboard, portal); included by web.urls_tenant."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
