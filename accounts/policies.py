"""Retention and storage cap for one person: the instance setting, or their groups'.

A person in several groups with overrides gets the most generous value (0 = forever /
no cap beats any number): being in one more group never takes anything away.
"""

from __future__ import annotations

from django.conf import settings

from accounts.models import GroupPolicy, User

MB = 1024 * 1024


def retention_days_for(user: User) -> int:
    """Days a person's images are kept (0: forever)."""
    return _most_generous(user, "retention_days", settings.DARKROOM_RETENTION_DAYS)


def storage_cap_bytes_for(user: User) -> int:
    """Bytes a person may keep stored (0: no cap)."""
    return _most_generous(user, "storage_cap_mb", settings.DARKROOM_STORAGE_CAP_MB) * MB


def _most_generous(user: User, field: str, default: int) -> int:
    values = list(
        GroupPolicy.objects.filter(group__user=user, **{f"{field}__isnull": False}).values_list(
            field, flat=True
        )
    )
    if not values:
        return default
    return 0 if 0 in values else max(values)
