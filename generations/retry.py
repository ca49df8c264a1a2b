"""The retry policy, in one place: how long to wait before trying an upstream again."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections

log = logging.getLogger(__name__)
T = TypeVar("T")

# Infrastructure errors: the database or the broker went away for a while. Retried
# with backoff, never counted against a job's upstream attempts.
DATABASE_ERRORS = (OperationalError, InterfaceError)


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


def on_database_errors(work: Callable[[], T]) -> T:
    """Run `work`, retrying it with backoff while the database refuses or drops us.

    For work that must not be lost once done upstream (storing a paid-for result).
    Gives up after DARKROOM_DB_RETRY_SECONDS, leaving the job to the relay.
    """
    give_up = time.monotonic() + settings.DARKROOM_DB_RETRY_SECONDS
    attempt = 0
    while True:
        try:
            return work()
        except DATABASE_ERRORS:
            if time.monotonic() > give_up:
                raise
            attempt += 1
            log.warning("database unavailable, retrying (attempt %d)", attempt)
            _drop_broken_connections()
            time.sleep(min(10.0, 0.5 * 2**attempt))


def _drop_broken_connections() -> None:
    # A connection the error left unusable is replaced on next use. Never inside a
    # transaction: that one is the caller's to roll back.
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()
