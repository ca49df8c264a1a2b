"""Erasing a person's data: files, references, keys, personal fields; accounting stays.

What is left: their generation rows (model, n, status, quota, times, channel) with the
prompt and parameters blanked, their quota rows, the audit log, and a deactivated
user row renamed `erased-<id>` so those rows still add up in reports.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from accounts.api_keys.services import api_keys_revoke
from accounts.audit import audit_person
from accounts.models import ApiKey, ErasureRequest, User
from generations.models import Generation, IdempotencyRecord, Webhook
from generations.purging import Removed, purge_generation
from generations.services import generation_fail
from presets.models import Preset

# What apps above this one (boards) erase of a person's own, inside the erasure's transaction.
ERASE_ALSO: list[Callable[[User], object]] = []


def erase_person(*, actor: User | None, user: User, reason: str = "") -> Removed:
    """Erase everything personal about `user`; returns what was removed from storage."""
    removed = Removed()
    # A job still running would store images after the erasure: stop (and refund) it first.
    for pk in (
        Generation.objects.filter(user=user)
        .exclude(status__in=Generation.FINISHED)
        .values_list("pk", flat=True)
    ):
        generation_fail(
            generation_id=pk, code="erased", message="Stopped: the person's data was erased."
        )
    for generation in Generation.objects.filter(user=user):
        removed.add(purge_generation(generation, keep_starred=False))
    former_name = user.get_username()
    with transaction.atomic():
        _anonymise_generations(user)
        api_keys_revoke(keys=ApiKey.objects.filter(user=user).select_related("user"))
        ApiKey.objects.filter(user=user).delete()
        Preset.objects.filter(owner=user).delete()  # their prompts, named by them
        for erase in ERASE_ALSO:
            erase(user)
        _anonymise_user(user)
        ErasureRequest.objects.filter(user=user, done_at__isnull=True).update(
            done_at=timezone.now()
        )
        audit_person(
            action="erased",
            user=user,
            subject=former_name,
            actor=actor,
            reason=reason,
            detail={"images": removed.images, "references": removed.references},
        )
    return removed


def erasure_request(*, user: User) -> bool:
    """The person asks staff to erase their data; False if a request is already open."""
    if ErasureRequest.objects.filter(user=user, done_at__isnull=True).exists():
        return False
    ErasureRequest.objects.create(user=user)
    audit_person(action="erasure requested", user=user, actor=user)
    return True


def _anonymise_generations(user: User) -> None:
    mine = Generation.objects.filter(user=user)
    IdempotencyRecord.objects.filter(user=user).delete()
    Webhook.objects.filter(generation__in=mine).delete()
    mine.update(
        prompt="",
        params={},
        error_message="",
        upstream_state=None,
        api_key=None,
        purged_at=Coalesce("purged_at", Now()),
    )


def _anonymise_user(user: User) -> None:
    user.username = f"erased-{user.pk}"
    user.email = user.first_name = user.last_name = ""
    user.is_active = False
    user.set_unusable_password()
    user.save()
