"""`manage.py rotate_encryption`: the former name of rotate_encryption_keys, kept as an alias."""

from __future__ import annotations

from tenants.management.commands.rotate_encryption_keys import Command as RotateEncryptionKeys


class Command(RotateEncryptionKeys):
    help = "Alias of rotate_encryption_keys. " + RotateEncryptionKeys.help
