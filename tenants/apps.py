from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Providers"

    def ready(self) -> None:
        from majismart.celery import app
        from tenants.outbox import keep

        # A task message the broker does not take is kept in the public schema (tenants.outbox).
        app.keep_unsent = keep
