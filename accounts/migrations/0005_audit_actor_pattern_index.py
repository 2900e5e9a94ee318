"""The audit viewer's case-blind "Who" index, built CONCURRENTLY where it can (majismart.migration_ops): logins, views and changes keep
writing audit rows while it is built (a plain CREATE INDEX would hold them back)."""

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.db import migrations, models

from majismart.migration_ops import AddIndexQuietly


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction (majismart.migration_ops)

    dependencies = [
        ('accounts', '0004_audit_append_only'),
    ]

    operations = [
        AddIndexQuietly(
            model_name='auditevent',
            index=models.Index(django.contrib.postgres.indexes.OpClass(django.db.models.functions.text.Upper('actor'), name='text_pattern_ops'), name='audit_actor_upper_idx'),
        ),
    ]
