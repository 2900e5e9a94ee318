from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0006_inbox_flagged_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='drainflag',
            name='beat',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
