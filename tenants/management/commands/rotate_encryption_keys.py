"""`manage.py rotate_encryption_keys [--dry-run] [--schema S …] [--batch N]`: re-encrypt every
encrypted field in every schema under the first FIELD_ENCRYPTION_KEYS key, online (see
majismart/key_rotation.py for how it stays out of everyone's way)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from majismart import key_rotation


class Command(BaseCommand):
    help = ("Re-encrypt personal fields in every schema under the first FIELD_ENCRYPTION_KEYS key, in short "
            "batches while the site runs (values already under it are skipped, so it can be stopped and run "
            "again). Run after putting a new key first; when it reports nothing left, the old keys can go.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be re-encrypted; change nothing.")
        parser.add_argument("--schema", action="append", dest="schemas", metavar="SCHEMA",
                            help="Only this schema (repeatable); default: public and every provider.")
        parser.add_argument("--batch", type=int, default=key_rotation.BATCH, help="Rows per batch (transaction).")

    def handle(self, *args: Any, **opts: Any) -> None:
        dry_run = opts["dry_run"]
        # Every statement names its schema: the connection's search_path is left as it is.
        results = key_rotation.rotate_all(
            dry_run=dry_run, size=max(1, opts["batch"]), only_schemas=opts["schemas"],
            report=lambda r: self.stdout.write(r.line(dry_run)))
        changed = sum(r.changed for r in results)
        schemas = len({r.schema for r in results})
        meanwhile = sum(r.changed_meanwhile for r in results)
        unreadable = sum(r.unreadable for r in results)
        verb = "Would re-encrypt" if dry_run else "Re-encrypted"
        self.stdout.write(f"{verb} {changed} values in {len(results)} tables of {schemas} schemas; "
                          f"{sum(r.current for r in results)} already under the newest key"
                          + (f"; {meanwhile} changed meanwhile (already under the newest key)" if meanwhile else "")
                          + (f"; {unreadable} unreadable with the configured keys" if unreadable else "") + ".")
        if unreadable:
            self.stderr.write("Some values open with none of FIELD_ENCRYPTION_KEYS: do not remove any old key "
                              "until they are accounted for.")
