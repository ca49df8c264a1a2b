"""Storage a person uses (originals + thumbnails + reference images) and its cap.

Checked when a request comes in, before any quota is reserved: a request is refused
when the person is already at their cap, or when its reference images alone would
take them over it (result sizes are unknown until the upstream answers).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from accounts.models import User
from accounts.policies import storage_cap_bytes_for
from common.errors import StorageFull
from generations.models import Image, ReferenceImage


@dataclass(frozen=True)
class StorageUse:
    originals: int
    thumbnails: int
    references: int
    cap: int  # 0: no cap

    @property
    def total(self) -> int:
        return self.originals + self.thumbnails + self.references

    @property
    def percent(self) -> int | None:
        return min(100, round(100 * self.total / self.cap)) if self.cap else None


def storage_use(user: User, *, cap: int | None = None) -> StorageUse:
    """`cap`: the person's cap when the caller has already looked it up."""
    images = Image.objects.filter(generation__user=user).aggregate(
        originals=Coalesce(Sum("bytes"), 0), thumbnails=Coalesce(Sum("thumbnail_bytes"), 0)
    )
    references = ReferenceImage.objects.filter(generation__user=user).aggregate(
        total=Coalesce(Sum("bytes"), 0)
    )
    return StorageUse(
        originals=images["originals"],
        thumbnails=images["thumbnails"],
        references=references["total"],
        cap=storage_cap_bytes_for(user) if cap is None else cap,
    )


def with_storage_bytes(people: QuerySet[User]) -> QuerySet[User]:
    """Annotate `storage_bytes` (originals + thumbnails + references) for staff lists."""
    images = (
        Image.objects.filter(generation__user=OuterRef("pk"))
        .values("generation__user")
        .annotate(total=Sum(F("bytes") + F("thumbnail_bytes")))
        .values("total")
    )
    references = (
        ReferenceImage.objects.filter(generation__user=OuterRef("pk"))
        .values("generation__user")
        .annotate(total=Sum("bytes"))
        .values("total")
    )
    return people.annotate(
        storage_bytes=Coalesce(Subquery(images), 0) + Coalesce(Subquery(references), 0)
    )


def storage_check(*, user: User, incoming: int) -> None:
    """Raise StorageFull if the request cannot fit under the person's cap."""
    cap = storage_cap_bytes_for(user)
    if not cap:  # most people: no sums over every image they own on every request
        return
    use = storage_use(user, cap=cap)
    if use.total < use.cap and use.total + incoming <= use.cap:
        return
    raise StorageFull(
        f"Your storage is full: {_mb(use.total)} of {_mb(use.cap)} used. Delete images you "
        "no longer need (History: select them, then Delete), or ask an administrator for "
        "more space; starred images count too.",
        used=use.total,
        cap=use.cap,
    )


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
