"""Audit entries for what staff and the system do to people's images."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from accounts.audit import audit_record
from accounts.models import User
from generations.models import Image, ReferenceImage


def _audit_foreign_images(
    *, action: str, actor: User, images: Sequence[Image], detail: Callable[[Image], dict[str, str]]
) -> None:
    """One entry per image of someone else's; a person's own images are theirs to touch."""
    for image in images:
        owner = image.generation.user
        if owner.pk == actor.pk:
            continue
        audit_record(
            action=action,
            subject=f"{owner.get_username()}: image {image.pk}",
            actor=actor,
            target_type="image",
            target_id=image.pk,
            user=owner,
            model=image.generation.model,
            detail={"generation": str(image.generation_id), **detail(image)},
        )


def audit_images_deleted_by_staff(*, actor: User, images: Sequence[Image]) -> None:
    """One entry per foreign image a staff member deletes, with the checksum of what went."""
    _audit_foreign_images(
        action="image deleted",
        actor=actor,
        images=images,
        detail=lambda image: {"sha256": image.sha256},
    )


def audit_images_read_by_staff(*, actor: User, images: Sequence[Image], how: str) -> None:
    """One entry per foreign image a staff member opens (page, original, thumbnail, zip)."""
    _audit_foreign_images(
        action="image viewed", actor=actor, images=images, detail=lambda _image: {"how": how}
    )


def audit_reference_read_by_staff(*, actor: User, reference: ReferenceImage) -> None:
    owner = reference.generation.user
    if owner.pk == actor.pk:
        return
    audit_record(
        action="reference viewed",
        subject=f"{owner.get_username()}: reference image {reference.pk}",
        actor=actor,
        target_type="reference image",
        target_id=reference.pk,
        user=owner,
        model=reference.generation.model,
        detail={"generation": str(reference.generation_id)},
    )
