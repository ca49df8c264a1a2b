"""Publishing a job: the one place a message for a job's step leaves for the broker.

The row is the truth and the message only a nudge (generations.leases): a broker that
refuses a message loses nothing, the relay publishes the job again once its lease
ends. The task is found by name in the Celery app's registry, so the services that
publish never import generations.tasks (which imports dispatch, which imports them).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

RUN_TASK = "generations.tasks.run_generation"

# What publishing a message raises when the broker is unreachable or refuses it.
PUBLISH_ERRORS = (KombuError, RedisError, OSError)


def publish(
    generation_id: Any,
    *,
    step: int | None,
    channel: str | None = None,
    countdown: float = 0,
) -> bool:
    """Nudge a worker to run the job's `step`; False (logged) if the broker refused."""
    try:
        current_app.tasks[RUN_TASK].apply_async(
            (str(generation_id), channel, step), countdown=countdown
        )
    except PUBLISH_ERRORS as exc:
        log.warning("generation %s committed but not published: %r", generation_id, exc)
        return False
    return True


def enqueue(generation_id: Any, *, channel: str | None = None) -> bool:
    """Publish a new job's first step; False (logged) if the broker cannot take it now.

    Called after the job is committed `queued`. A broker that is down must not turn an
    accepted request into an error (the caller would retry and reserve again); the job
    stays queued and the relay publishes it once its first lease runs out.
    """
    return publish(generation_id, channel=channel, step=0)
