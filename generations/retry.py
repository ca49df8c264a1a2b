"""The retry policy, in one place: how long to wait before trying an upstream again."""

from __future__ import annotations

import random

from django.conf import settings


def max_countdown() -> float:
    # A countdown past the broker's visibility timeout makes Redis redeliver the
    # task while it still waits in a worker: stay well below it.
    return min(300.0, settings.CELERY_VISIBILITY_TIMEOUT / 4)


def backoff(retries: int, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff, honouring the upstream's Retry-After."""
    ceiling = min(max_countdown(), 2.0 * 2**retries)
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after:
        delay = max(delay, retry_after)
    return min(delay, max_countdown())


def may_retry(retries: int) -> bool:
    return retries < settings.DARKROOM_TASK_MAX_RETRIES
