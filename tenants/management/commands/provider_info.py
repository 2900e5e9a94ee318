from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.selectors import provider_info, providers


class Command(BaseCommand):
    help = "Show a provider's domain, status, callback token and M-Pesa callback URLs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        provider = providers().filter(slug=opts["slug"]).first()
        if provider is None:
            raise CommandError(f"No provider with slug {opts['slug']!r}.")
        info = provider_info(provider)
        if opts["json"]:
            self.stdout.write(json.dumps(info, indent=2))
            return
        for key, value in info.items():
            if isinstance(value, dict):
                for sub, url in value.items():
                    self.stdout.write(f"{key}.{sub}: {url}")
            else:
                self.stdout.write(f"{key}: {value}")
