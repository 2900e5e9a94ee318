from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import tenant_context

from majismart.urls import domain_url
from selfservice.demo import demo_line
from web import demo


class Command(BaseCommand):
    help = "Create two demo providers with staff and client logins (once); print URLs and logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Seed even with DEBUG off (demo servers only).")

    def handle(self, *args: Any, **opts: Any) -> None:
        from django.conf import settings

        if not (settings.DEBUG or settings.TESTING or opts["force"]):
            # It creates a platform superuser with a published password.
            raise CommandError("seed_demo creates logins with a published password: it runs only with DEBUG on "
                               "(or --force on a demo server).")
        seeded = demo.seed()
        self.stdout.write(f"Platform:  {domain_url(settings.BASE_DOMAIN)}  (admin: /admin/)")
        self.stdout.write(f"  {demo.ADMIN_EMAIL} / {demo.DEMO_PASSWORD}")
        for item in seeded:
            state = "created" if item.created else "already there"
            self.stdout.write(f"{item.provider.name} ({state}): {domain_url(item.provider.domain)}")
            for role, email in item.logins:
                self.stdout.write(f"  {role:<13} {email} / {demo.DEMO_PASSWORD}")
            with tenant_context(item.provider):
                self.stdout.write(f"  {demo_line()}")
