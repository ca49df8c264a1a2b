"""Operators' writes on generations (admin actions): retry a failed one, stop a stuck one.

Both go through generations.services, so quota moves exactly as for any request:
a retry reserves again through accounts.quota.quota_hold (refused whole when
the person has no quota left), a stop settles the reservation once.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import User
from accounts.quota.changes import audit_quota_change
from common.errors import InvalidRequest
from generations.models import Generation
from generations.references import references_by_param
from generations.services import generation_create, generation_fail

STOPPED_CODE = "stopped_by_operator"


def generation_retry(*, generation: Generation) -> Generation:
    """Queue the same request again as a new generation; the failed one stays as history.

    Raises QuotaExceeded if the person has no quota left for it, InvalidRequest if
    the generation didn't fail or its owner is deactivated.
    """
    if generation.status != Generation.Status.FAILED:
        raise InvalidRequest("Only a failed generation can be retried.")
    if not generation.user.is_active:
        raise InvalidRequest(f"{generation.user} is deactivated.")
    images = references_by_param(generation.references.all())
    return generation_create(
        user=generation.user,
        model=generation.model,
        prompt=generation.prompt,
        params=dict(generation.params),
        images=images or None,
        source=generation.source,
    )


def generation_stop(*, generation_id: Any, actor: User | None, reason: str = "") -> bool:
    """Fail an unfinished generation and refund its held images; False if it had finished."""
    with transaction.atomic():
        locked = Generation.objects.select_for_update().select_related("user").get(pk=generation_id)
        held = locked.quota_reserved if locked.quota_state == Generation.QuotaState.RESERVED else 0
        message = "Stopped by an operator; its images were refunded."
        if not generation_fail(generation_id=locked.pk, code=STOPPED_CODE, message=message):
            return False
        if held:
            audit_quota_change(
                actor=actor,
                user=locked.user,
                model=locked.model,
                action="refund",
                field="reserved",
                old=f"{held} held by {locked.pk}",
                new="released",
                reason=reason or "stuck generation stopped in the admin",
            )
    return True
