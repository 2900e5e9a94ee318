from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.backup import BackupError, provider_restore


class Command(BaseCommand):
    help = ("Restore a backup_provider archive as a new provider: under its own slug (which must be free), or "
            "--as another (a restore drill). All or nothing; needs the same FIELD_ENCRYPTION_KEYS and "
            "BLIND_INDEX_KEY as the platform it came from.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--as", dest="as_slug", default=None, metavar="NEW_SLUG",
                            help="Restore under this slug (and its domain <NEW_SLUG>.BASE_DOMAIN).")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            with open(opts["file"], "rb") as source:
                restored = provider_restore(source, as_slug=opts["as_slug"])
        except FileNotFoundError as exc:
            raise CommandError(f"No such archive: {opts['file']}") from exc
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        manifest = restored.manifest
        rows = sum(t["rows"] for t in manifest["table_data"].values())
        self.stdout.write(f"Restored {manifest['slug']} (backed up {manifest['created_at']}) as "
                          f"{restored.provider.slug}: {rows} rows, {len(restored.files)} files, "
                          f"{restored.provider.domain}")
