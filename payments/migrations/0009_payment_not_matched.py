"""The collections report's list of payments not simply matched (waiting in reconciliation,
reversed, refunded), newest first: a small partial index, built CONCURRENTLY where it can
(majismart.migration_ops) while callbacks keep inserting payments."""

from django.db import migrations, models

from majismart.migration_ops import AddIndexQuietly


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction (majismart.migration_ops)

    dependencies = [
        ("payments", "0008_payment_method_cheque"),
    ]

    operations = [
        AddIndexQuietly(
            model_name="payment",
            index=models.Index(condition=~models.Q(status="matched"), fields=["paid_at"], name="payment_not_matched"),
        ),
    ]
