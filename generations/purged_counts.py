"""Images that retention or erasure removed, for the usage reports.

Reports count stored images by Image.created_at; a purged image has no row any more,
so it is counted from its generation's `purged_images` at the generation's
`finished_at` (when its images were stored, in the same transaction).
"""

from __future__ import annotations

from datetime import date, datetime

from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from generations.models import Generation


def purged_per_day(start: datetime, end: datetime) -> dict[tuple[date, str], int]:
    rows = (
        Generation.objects.filter(purged_images__gt=0, finished_at__gte=start, finished_at__lt=end)
        .annotate(day=TruncDate("finished_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "model")
        .annotate(purged=Sum("purged_images"))
    )
    return {(row["day"], row["model"]): row["purged"] for row in rows}


def purged_per_person(start: datetime, end: datetime) -> dict[int, int]:
    rows = (
        Generation.objects.filter(purged_images__gt=0, finished_at__gte=start, finished_at__lt=end)
        .values("user")
        .annotate(purged=Sum("purged_images"))
    )
    return {row["user"]: row["purged"] for row in rows}
