"""The retry policy, in one place: how long to wait before trying an upstream again."""

from __future__ import annotations

import random
from typing import Any

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


# Attempts that never reached an upstream (the channel could not carry the request).
_NOT_CALLED = {"channel_cannot_serve"}


def upstream_calls(attempts: list[dict[str, Any]]) -> int:
    """How many times a job has called an upstream to generate (polls are not counted)."""
    return sum(
        1 for a in attempts if a.get("phase") == "submit" and a.get("code") not in _NOT_CALLED
    )


def may_call_upstream(attempts: list[dict[str, Any]]) -> bool:
    """Each generating call may cost money: DARKROOM_MAX_UPSTREAM_ATTEMPTS per job, in all."""
    return upstream_calls(attempts) < settings.DARKROOM_MAX_UPSTREAM_ATTEMPTS


def may_regenerate_expired(attempts: list[dict[str, Any]]) -> bool:
    """Result links that expired before we fetched them (a poll that came late) are worth
    one fresh generation; links that keep arriving dead are not worth paying for again."""
    return not any(a.get("code") == "result_expired" for a in attempts)
