from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import tenant_context

from accounts.models import User
from accounts.two_factor import two_factor_disable
from tenants.selectors import providers


class Command(BaseCommand):
    help = ("Remove a provider staff member's two-factor authentication (lost phone and recovery codes), "
            "after checking who they are. They log in with their password and, if their role requires it, "
            "set it up again.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("email")

    def handle(self, *args: Any, **opts: Any) -> None:
        provider = providers().filter(slug=opts["slug"]).first()
        if provider is None:
            raise CommandError(f"No provider with slug {opts['slug']!r}.")
        with tenant_context(provider):
            user = User.objects.filter(email=opts["email"].strip().lower()).first()
            if user is None:
                raise CommandError(f"No user {opts['email']!r} at {provider.slug}.")
            two_factor_disable(user=user, actor="reset_two_factor")
        self.stdout.write(f"Two-factor authentication removed for {user.email} at {provider.slug}.\n")
