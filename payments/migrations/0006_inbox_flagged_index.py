"""The sweeper's index of flagged callbacks, built CONCURRENTLY where it can (majismart.migration_ops): the C2B endpoint keeps inserting
into this table while the index is built (a plain CREATE INDEX would hold its inserts back for
the whole build, in every provider's schema)."""

from django.db import migrations, models

from majismart.migration_ops import AddIndexQuietly


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction (majismart.migration_ops)

    dependencies = [
        ('payments', '0005_encrypt_payers_and_callbacks'),
    ]

    operations = [
        AddIndexQuietly(
            model_name='callbackinbox',
            index=models.Index(condition=models.Q(('status', 'invalid')), fields=['id'], name='inbox_flagged'),
        ),
    ]
