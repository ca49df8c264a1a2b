"""Counting through signals: the code doing the work sends them, we only listen."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.signals import quota_refused
from common.ops import context, metrics
from generations.models import Generation
from generations.signals import generation_finished

log = logging.getLogger("darkroom.jobs")


@receiver(generation_finished, dispatch_uid="ops-count-finished")
def count_finished(sender: Any, generation: Generation, images: int, **kwargs: Any) -> None:
    metrics.GENERATIONS.labels(
        model=generation.model, status=generation.status, source=generation.source
    ).inc()
    if images:  # what the finishing transaction stored: no query to count them again
        metrics.IMAGES.labels(model=generation.model).inc(images)


@receiver(quota_refused, dispatch_uid="ops-count-quota-refused")
def count_quota_refused(sender: Any, model: str, **kwargs: Any) -> None:
    metrics.QUOTA_REFUSALS.labels(model=model).inc()


@receiver(post_save, sender=Generation, dispatch_uid="ops-bind-new-job")
def bind_new_job(sender: Any, instance: Generation, created: bool, **kwargs: Any) -> None:
    # The request that creates a job logs under its id from here on: once it is
    # committed, because a submission refused its quota (reserved after the row is
    # inserted) rolls the row back, and no job was created.
    if created:

        def announce() -> None:
            context.bind(job_id=instance.pk, user_id=instance.user_id, model=instance.model)
            log.info("generation created (%s, n=%s)", instance.source, instance.n)

        transaction.on_commit(announce)
