"""`manage.py purge_retention [--dry-run] [--schema X]`: apply each provider's retention policy
now (what the daily beat job does), or with --dry-run report what would go and remove nothing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from privacy.retention import RULE_LABELS, retention_apply
from tenants.selectors import active_providers, providers


class Command(BaseCommand):
    help = "Apply the retention policy of every active provider (or one schema); --dry-run removes nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be removed; remove nothing.")
        parser.add_argument("--schema", help="Only this provider's schema (its slug), active or not.")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["schema"]:
            schemas = list(providers().filter(schema_name=opts["schema"]).values_list("schema_name", flat=True))
            if not schemas:
                raise CommandError(f"No provider with schema {opts['schema']!r}.")
        else:
            schemas = list(active_providers().order_by("schema_name").values_list("schema_name", flat=True))
        width = max(len(label) for label in RULE_LABELS.values())
        for schema in schemas:
            with schema_context(schema):
                run = retention_apply(dry_run=opts["dry_run"], actor="purge_retention command")
            cutoffs = run.cutoffs
            self.stdout.write(f"{schema}: {'dry run, nothing removed' if run.dry_run else 'applied'} "
                              f"(billing before {cutoffs['billing']}, callbacks before {cutoffs['callbacks'][:19]}, "
                              f"audit before {cutoffs['audit'][:19]}, messages before {cutoffs['notifications'][:19]})")
            verb = "would go" if run.dry_run else "removed"
            for key, label in RULE_LABELS.items():
                what = "written" if key == "balances_brought_forward" else verb
                self.stdout.write(f"  {label:<{width}}  {run.counts.get(key, 0):>8} {what}")
        if not schemas:
            self.stdout.write("No active provider.")
