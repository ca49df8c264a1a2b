"""Retention: generations older than their owner's retention lose their files.

Starred images are kept (and with them the generation's reference images); the
generation rows stay, marked purged, so reports and quotas do not change. Run daily
by beat (generations.tasks.purge_expired) and by `manage.py purge_expired`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.audit import audit_person
from accounts.models import User
from accounts.policies import retention_days_for
from generations.models import Generation, Image
from generations.purging import Removed, kept_by_others, purge_generation


@dataclass
class PurgeReport:
    dry_run: bool
    people: dict[str, Removed] = field(default_factory=dict)

    @property
    def total(self) -> Removed:
        total = Removed()
        for removed in self.people.values():
            total.add(removed)
        return total


def purge_expired(*, dry_run: bool = False, now: datetime | None = None) -> PurgeReport:
    now = now or timezone.now()
    report = PurgeReport(dry_run=dry_run)
    owners = User.objects.filter(generations__purged_at__isnull=True).distinct()
    for user in owners:
        days = retention_days_for(user)
        if not days:
            continue
        removed = Removed()
        for generation in _expired(user, now - timedelta(days=days)):
            removed.add(purge_generation(generation, keep_starred=True, dry_run=dry_run))
        if removed.images or removed.references:
            report.people[user.get_username()] = removed
            if not dry_run:
                _audit(user, days, removed)
    return report


def _expired(user: User, cutoff: datetime) -> QuerySet[Generation]:
    has_files = Q(images__starred=False) | Q(references__isnull=False)
    return (
        Generation.objects.filter(
            user=user,
            created_at__lt=cutoff,
            status__in=Generation.FINISHED,
            purged_at__isnull=True,
        )
        .filter(has_files)
        .distinct()
        .order_by("created_at")
    )


def removal_date(image: Image) -> datetime | None:
    """When retention will remove this image (None: kept, starred or forever)."""
    days = retention_days_for(image.generation.user)
    if not days or image.starred or kept_by_others(Image.objects.filter(pk=image.pk)):
        return None
    return image.generation.created_at + timedelta(days=days)


def _audit(user: User, days: int, removed: Removed) -> None:
    audit_person(
        action="retention purge",
        user=user,
        actor=None,
        detail={
            "retention_days": days,
            "images": removed.images,
            "references": removed.references,
            "bytes": removed.bytes,
            "generations_purged": removed.generations,
        },
    )
