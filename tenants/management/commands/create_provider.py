from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from majismart.phones import normalize_phone
from tenants.services import provider_create


class Command(BaseCommand):
    help = "Create a provider: tenant, schema, domain SLUG.<BASE_DOMAIN> and its owner user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--owner-password", required=True)
        parser.add_argument("--owner-name", default="")
        parser.add_argument("--phone", default="")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            created = provider_create(
                name=opts["name"],
                slug=opts["slug"],
                owner_email=opts["owner_email"],
                owner_password=opts["owner_password"],
                owner_name=opts["owner_name"],
                owner_phone=normalize_phone(opts["phone"]),
                actor="create_provider",
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(created.provider.domain)
