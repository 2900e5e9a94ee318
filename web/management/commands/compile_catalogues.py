"""Compile the message catalogues (locale/*/LC_MESSAGES/django.po) to .mo with polib: no GNU
gettext needed. `--update` first adds the strings newly marked for translation (empty, to fill
in); `--check` fails while any has no Kiswahili."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from majismart import catalogues


class Command(BaseCommand):
    help = "Compile the translation catalogues (.po -> .mo) with polib."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--update", action="store_true", help="add newly marked strings to the catalogues first")
        parser.add_argument("--check", action="store_true", help="fail when a marked string has no translation")

    def handle(self, *args: Any, **options: Any) -> None:
        others = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
        if options["update"]:
            for code in others:
                self.stdout.write(f"{code}: {catalogues.update(code)} new string(s) to translate")
        written = catalogues.compile_all()
        self.stdout.write(f"{len(written)} catalogue(s) compiled" if written else "catalogues up to date")
        if options["check"]:
            missing = [f"{code}: {m}" for code in others for m in catalogues.untranslated(code)]
            if missing:
                raise CommandError("untranslated:\n" + "\n".join(missing))
