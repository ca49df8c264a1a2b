"""Celery tasks: thin interfaces over generations.services.

`run_generation` takes an id and the step it is for, and is safe to run twice:
it runs only with the job's lease (generations.leases), and quota settles once.
The next step (a retry after backoff or the next poll of an asynchronous
upstream) is a fresh message with a countdown, so no worker slot waits on an
upstream between steps. The database row says what happens next; a message that
is lost (broker restarted empty, worker killed) is replaced by the relay.

Infrastructure errors (the database refusing, the broker away) are retried with
backoff, never counted as an upstream attempt.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from kombu.exceptions import OperationalError as BrokerError

from generations import dispatch, leases, publishing, services
from generations.retry import DATABASE_ERRORS


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(*DATABASE_ERRORS, BrokerError),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=30,
    soft_time_limit=int(settings.DARKROOM_UPSTREAM_TIMEOUT) + 60,
    time_limit=int(settings.DARKROOM_UPSTREAM_TIMEOUT) + 90,
)
def run_generation(
    self: Any,  # noqa: ARG001  (bind=True: Celery passes the task; its retry policy lives in the decorator)
    generation_id: str,
    channel: str | None = None,
    step: int | None = None,
) -> None:
    try:
        result = dispatch.generation_run(
            generation_id=generation_id, channel_name=channel, step=step
        )
    except SoftTimeLimitExceeded:
        result = dispatch.generation_interrupted(generation_id=generation_id)
    if result.delay is not None:
        publishing.publish(generation_id, channel=channel, step=result.step, countdown=result.delay)


@shared_task
def relay_generations() -> int:
    return leases.relay()


@shared_task
def sweep_stuck_generations() -> int:
    return services.sweep_stuck(older_than_seconds=settings.DARKROOM_JOB_DEADLINE)


@shared_task
def purge_expired_generations() -> int:
    """Daily retention run (beat); returns how many images went."""
    from generations.retention import purge_expired

    return purge_expired().total.images


@shared_task
def retry_budget_alerts() -> int:
    """Beat: budget alerts whose mail or webhook failed, sent again once due."""
    from generations.spend.alerts import alerts_retry

    return alerts_retry()
