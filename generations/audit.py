"""Audit entries for what staff and the system do to people's images."""

from __future__ import annotations

from collections.abc import Sequence

from accounts.audit import audit_record
from accounts.models import User
from generations.models import Image, ReferenceImage


def audit_images_deleted_by_staff(*, actor: User, images: Sequence[Image]) -> None:
    """One entry per foreign image a staff member deletes; people's own deletes are theirs."""
    for image in images:
        owner = image.generation.user
        if owner.pk == actor.pk:
            continue
        audit_record(
            action="image deleted",
            subject=f"{owner.get_username()}: image {image.pk}",
            actor=actor,
            target_type="image",
            target_id=image.pk,
            user=owner,
            model=image.generation.model,
            detail={"generation": str(image.generation_id), "sha256": image.sha256},
        )


def audit_images_read_by_staff(*, actor: User, images: Sequence[Image], how: str) -> None:
    """One entry per foreign image a staff member opens (page, original, thumbnail, zip)."""
    for image in images:
        owner = image.generation.user
        if owner.pk == actor.pk:
            continue
        audit_record(
            action="image viewed",
            subject=f"{owner.get_username()}: image {image.pk}",
            actor=actor,
            target_type="image",
            target_id=image.pk,
            user=owner,
            model=image.generation.model,
            detail={"generation": str(image.generation_id), "how": how},
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
