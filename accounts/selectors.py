"""Account reads outside quota (quota reads live in accounts.quota)."""

from __future__ import annotations

from django.db.models import QuerySet, Sum
from django.db.models.functions import Coalesce

from accounts.models import ApiKey, User


def api_keys_for(user: User) -> QuerySet[ApiKey]:
    """A person's keys, newest first, each with `images_made` (images charged through it)."""
    return (
        ApiKey.objects.filter(user=user)
        .annotate(images_made=Coalesce(Sum("generations__quota_used"), 0))
        .order_by("-created")
    )
