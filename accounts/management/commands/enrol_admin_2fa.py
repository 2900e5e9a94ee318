from __future__ import annotations

from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.two_factor import enrol_directly, is_enrolled, otpauth_uri, qr_svg, secret_text
from majismart.tenancy import connection


class Command(BaseCommand):
    help = ("Give a platform admin (public schema) an authenticator app for Django admin's two-factor login: "
            "prints the otpauth URI (and a QR code in the terminal), the setup key and ten recovery codes.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--replace", action="store_true",
                            help="Replace an authenticator the admin has already (a lost phone).")
        parser.add_argument("--svg", metavar="FILE", help="Also write the QR code as an SVG file.")

    def handle(self, *args: Any, **opts: Any) -> None:
        connection.set_schema_to_public()
        user = User.objects.filter(email=opts["email"].strip().lower(), is_staff=True, is_active=True).first()
        if user is None:
            raise CommandError(f"No active platform admin (is_staff) with email {opts['email']!r}.")
        if is_enrolled(user) and not opts["replace"]:
            raise CommandError("This admin has an authenticator already; pass --replace to give a new one "
                               "(the old one and its recovery codes stop working).")
        device, codes = enrol_directly(user=user, actor="enrol_admin_2fa")
        uri = otpauth_uri(device, "MajiSmart admin")
        out = self.stdout
        out.write("Scan this QR code with an authenticator app, or enter the setup key by hand.\n")
        try:
            import segno

            segno.make(uri, error="m").terminal(out=cast(TextIO, out), compact=True)  # a text stream
        except (UnicodeEncodeError, OSError):  # a terminal that cannot draw it: the key still works
            pass
        if opts["svg"]:
            with open(opts["svg"], "w", encoding="utf-8") as handle:
                handle.write(qr_svg(uri))
            out.write(f"QR code written to {opts['svg']}\n")
        out.write(f"otpauth URI: {uri}\n")
        out.write(f"Setup key:   {secret_text(device)}\n")
        out.write("Recovery codes (each works once; keep them offline):\n")
        for code in codes:
            out.write(f"  {code}\n")
