from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from tenants.models import Domain, Provider
from tenants.services import template_schema_ensure


class Command(BaseCommand):
    help = ("After migrate_schemas: point the platform site at BASE_DOMAIN and make sure the schema "
            "new providers are cloned from exists and is fully migrated.")

    def handle(self, *args: Any, **opts: Any) -> None:
        with transaction.atomic():
            public = Provider.objects.get(schema_name="public")
            domain = Domain.objects.filter(tenant=public, is_primary=True).first()
            if domain is None:
                Domain.objects.create(tenant=public, domain=settings.BASE_DOMAIN, is_primary=True)
            elif domain.domain != settings.BASE_DOMAIN:
                self.stdout.write(f"Platform domain {domain.domain} -> {settings.BASE_DOMAIN}")
                domain.domain = settings.BASE_DOMAIN
                domain.save(update_fields=["domain"])
        template_schema_ensure()
        self.stdout.write(f"Platform on {settings.BASE_DOMAIN}; provider template ready.")
