"""Django admin with the platform's own default site (accounts/admin_site.py): kept apart from the
site so that loading the app registry imports no form or model."""

from django.contrib.admin.apps import AdminConfig


class PlatformAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.PlatformAdminSite"
