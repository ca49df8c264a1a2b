"""Remove a generation's files and file rows, keeping the generation row for accounting.

Shared by retention (starred images stay) and erasure (everything goes). Rows go in a
transaction; the files go once it has committed, so a rollback leaves both in place.
Works the same on every storage backend: it only calls Storage.delete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from generations.models import Generation, Image, ReferenceImage


@dataclass
class Removed:
    images: int = 0
    references: int = 0
    bytes: int = 0
    generations: int = 0

    def add(self, other: Removed) -> None:
        self.images += other.images
        self.references += other.references
        self.bytes += other.bytes
        self.generations += other.generations


# Images retention keeps besides starred ones, as filters on Image that apps above this
# one add when they load (boards: images on a shared board). Erasure ignores them.
KEEP_ALSO: list[Callable[[], Q]] = []


def kept_by_others(images: QuerySet[Image]) -> set[Any]:
    """The ids among `images` that another app asks retention to keep."""
    if not KEEP_ALSO:
        return set()
    keep = Q(pk__in=[])
    for condition in KEEP_ALSO:
        keep |= condition()
    return set(images.filter(keep).values_list("pk", flat=True))


def purge_generation(
    generation: Generation, *, keep_starred: bool, dry_run: bool = False
) -> Removed:
    """Remove the generation's images (unstarred ones only if keep_starred) and, once no
    image is left, its reference files; mark it purged when nothing is left."""
    with transaction.atomic():
        # Locked, so an image starred meanwhile is either kept or starred after it went.
        images = list(generation.images.select_for_update())
        others = kept_by_others(generation.images.all()) if keep_starred else set()
        going = [i for i in images if not (keep_starred and (i.starred or i.pk in others))]
        kept = len(images) - len(going)
        references = [] if kept else list(generation.references.select_for_update())
        removed = Removed(
            images=len(going),
            references=len(references),
            bytes=sum(i.bytes + i.thumbnail_bytes for i in going)
            + sum(r.bytes for r in references),
            generations=0 if kept or generation.purged_at else 1,
        )
        if dry_run or not (going or references or removed.generations):
            return removed
        Image.objects.filter(pk__in=[i.pk for i in going]).delete()
        ReferenceImage.objects.filter(pk__in=[r.pk for r in references]).delete()
        marks: dict[str, Any] = {"purged_images": F("purged_images") + len(going)}
        if not kept:
            marks["purged_at"] = timezone.now()
        Generation.objects.filter(pk=generation.pk).update(**marks)
        files = [(i.file.storage, n) for i in going for n in (i.file.name, i.thumbnail.name) if n]
        files += [(r.file.storage, r.file.name) for r in references if r.file.name]
        transaction.on_commit(lambda: _delete_files(files))
    return removed


def _delete_files(files: list[tuple[Storage, str]]) -> None:
    for storage, name in files:
        storage.delete(name)
