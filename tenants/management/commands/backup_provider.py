from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.backup import BackupError, provider_backup
from tenants.models import Provider


class Command(BaseCommand):
    help = ("Write one sealed archive (BACKUP_ENCRYPTION_KEY) of a provider: its schema's rows, its public rows "
            "and its files. Restore it with restore_provider.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--output", "-o", default="",
                            help="Where to write the archive (default: <slug>-<UTC time>.majibak here).")

    def handle(self, *args: Any, **opts: Any) -> None:
        provider = Provider.objects.filter(slug=opts["slug"], is_template=False).exclude(schema_name="public").first()
        if provider is None:
            raise CommandError(f"No provider with slug {opts['slug']!r}.")
        from django.utils import timezone

        target = Path(opts["output"] or f"{provider.slug}-{timezone.now():%Y%m%dT%H%M%SZ}.majibak")
        if target.exists():
            raise CommandError(f"{target} already exists: name another file.")
        partial = target.with_name(f".{target.name}.partial")
        try:
            with open(partial, "xb") as out:
                manifest = provider_backup(provider, out)
                out.flush()
                os.fsync(out.fileno())
            partial.rename(target)
        except BackupError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(str(exc)) from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        rows = sum(t["rows"] for t in manifest["table_data"].values())
        self.stdout.write(f"{target}: {len(manifest['table_data'])} tables, {rows} rows, "
                          f"{len(manifest['files'])} files")
