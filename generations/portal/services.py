"""Portal writes on images (star, delete), the zip download, and audited reads.

Each takes the acting user and only touches what `selectors.visible_images`
lets that person see (or delete), so a foreign id is a no-op (or a 404), never a
change. Staff opening someone else's image or reference leave an audit entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.core.files.storage import Storage
from django.db import transaction

from accounts.models import User
from common.streaming import zip_stream
from generations.audit import (
    audit_images_deleted_by_staff,
    audit_images_read_by_staff,
    audit_reference_read_by_staff,
)
from generations.models import Image, ReferenceImage
from generations.selectors import image_for, images_for, reference_for

# Bounds the work one request can ask for (zip size, delete batch).
MAX_BATCH = 200


def image_open(*, user: User, image_id: Any, how: str) -> Image:
    """An image the person may see, for reading; a foreign one is audited."""
    image = image_for(user, image_id)
    audit_images_read_by_staff(actor=user, images=[image], how=how)
    return image


def reference_open(*, user: User, reference_id: Any) -> ReferenceImage:
    reference = reference_for(user, reference_id)
    audit_reference_read_by_staff(actor=user, reference=reference)
    return reference


def image_set_star(*, user: User, image_id: Any, starred: bool) -> Image:
    image = image_for(user, image_id)
    Image.objects.filter(pk=image.pk).update(starred=starred)
    image.starred = starred
    return image


def images_delete(*, user: User, image_ids: list[Any]) -> int:
    """Delete images with their files and thumbnails; returns how many went."""
    images = list(images_for(user, image_ids[:MAX_BATCH], action="delete"))
    files = [
        (img.file.storage, name)
        for img in images
        for name in (img.file.name, img.thumbnail.name)
        if name
    ]
    with transaction.atomic():
        Image.objects.filter(pk__in=[img.pk for img in images]).delete()
        audit_images_deleted_by_staff(actor=user, images=images)
        # Files go only once the rows are gone for good: a rollback keeps both.
        transaction.on_commit(lambda: _delete_files(files))
    return len(images)


def _delete_files(files: list[tuple[Storage, str]]) -> None:
    for storage, name in files:
        storage.delete(name)


def images_zip(*, user: User, image_ids: list[Any]) -> tuple[Iterator[bytes], int]:
    """A zip of the originals, streamed as it is read; returns (chunks, image count)."""
    images = list(images_for(user, image_ids[:MAX_BATCH]))
    audit_images_read_by_staff(actor=user, images=images, how="zip")
    return zip_stream([(zip_name(image), image.file) for image in images]), len(images)


def zip_name(image: Image) -> str:
    generation = image.generation
    slug = re.sub(r"[^\w]+", "-", generation.prompt.lower(), flags=re.UNICODE).strip("-")[:40]
    stamp = generation.created_at.strftime("%Y%m%d-%H%M%S")
    ext = (image.file.name or "").rsplit(".", 1)[-1]
    return f"{stamp}-{slug or 'image'}-{str(image.pk)[:8]}.{ext}"
