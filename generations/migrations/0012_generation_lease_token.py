from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("generations", "0011_generation_quota_budget"),
    ]

    operations = [
        migrations.AddField(
            model_name="generation",
            name="lease_token",
            field=models.PositiveIntegerField(default=0),
        ),
    ]
