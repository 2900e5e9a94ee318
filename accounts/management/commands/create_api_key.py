from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import tenant_context

from accounts.models import STAFF_ROLES, Role
from accounts.services import api_key_create
from tenants.selectors import providers


class Command(BaseCommand):
    help = "Create an API key for a provider and print it (it is shown once, stored hashed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True, help="A label, e.g. the field app's name.")
        parser.add_argument("--role", default=Role.MANAGER, choices=sorted(STAFF_ROLES))

    def handle(self, *args: Any, **opts: Any) -> None:
        provider = providers().filter(slug=opts["slug"]).first()
        if provider is None:
            raise CommandError(f"No provider with slug {opts['slug']!r}.")
        with tenant_context(provider):
            _key, raw = api_key_create(name=opts["name"], role=opts["role"])
        self.stdout.write(raw)
