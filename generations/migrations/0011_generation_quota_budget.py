from __future__ import annotations

from typing import Any

from django.db import migrations, models


def _record_pools(apps: Any, schema_editor: Any) -> None:
    Generation = apps.get_model("generations", "Generation")
    Generation.objects.filter(quota_pool__isnull=False).update(quota_budget="pool")


class Migration(migrations.Migration):
    dependencies = [
        ("generations", "0010_gallery_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="generation",
            name="quota_budget",
            field=models.CharField(default="person", max_length=10, verbose_name="quota budget"),
        ),
        migrations.RunPython(_record_pools, migrations.RunPython.noop),
    ]
