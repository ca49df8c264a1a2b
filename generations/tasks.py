"""Celery tasks: thin interfaces over generations.services.

`run_generation` takes an id and is safe to run twice (the service claims the
row and settles quota once). It acks late and is rejected back to the queue if
its worker dies; the next step (a retry after backoff or the next poll of an
asynchronous upstream) is a fresh message with a countdown, so no worker slot
waits on an upstream between steps.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.dispatch import receiver

from . import dispatch, services
from .signals import generation_queued


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=int(settings.DARKROOM_UPSTREAM_TIMEOUT) + 60,
    time_limit=int(settings.DARKROOM_UPSTREAM_TIMEOUT) + 90,
)
def run_generation(self: Any, generation_id: str, channel: str | None = None) -> None:
    try:
        step = dispatch.generation_run(generation_id=generation_id, channel_name=channel)
    except SoftTimeLimitExceeded:
        step = dispatch.generation_interrupted(generation_id=generation_id)
    if step.delay is not None:
        run_generation.apply_async((generation_id, channel), countdown=step.delay)


@receiver(generation_queued, dispatch_uid="generations-run-queued")
def _run_queued(sender: Any, generation_id: str, channel: str | None = None, **kwargs: Any) -> None:
    run_generation.apply_async((generation_id, channel))


@shared_task
def sweep_stuck_generations() -> int:
    return services.sweep_stuck(older_than_seconds=settings.DARKROOM_JOB_DEADLINE)
