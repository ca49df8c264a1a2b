"""The retry policy, in one place: how long to wait before trying an upstream again."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections

log = logging.getLogger(__name__)
T = TypeVar("T")

# Infrastructure errors: the database or the broker went away for a while. Retried
# with backoff, never counted against a job's upstream attempts.
DATABASE_ERRORS = (OperationalError, InterfaceError)
# What the database or the object store raises while away (S3 through boto, files).
# boto is the optional `s3` extra: without it no S3 error can come.
try:
    from botocore.exceptions import BotoCoreError, ClientError

    _S3_ERRORS: tuple[type[Exception], ...] = (BotoCoreError, ClientError)
except ImportError:
    _S3_ERRORS = ()
STORAGE_ERRORS: tuple[type[Exception], ...] = (*DATABASE_ERRORS, *_S3_ERRORS, OSError)


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


# A "resume" attempt stands for a call a dead worker sent and whose answer was lost.
_CALLS = {"submit", "resume"}
# For counting them in SQL (generations.dispatch).
CALL_PHASES = frozenset(_CALLS)
NOT_CALLED_CODES = frozenset(_NOT_CALLED)


def upstream_calls(attempts: list[dict[str, Any]]) -> int:
    """How many times a job has called an upstream to generate (polls are not counted)."""
    return sum(1 for a in attempts if a.get("phase") in _CALLS and a.get("code") not in _NOT_CALLED)


def may_call_upstream(attempts: list[dict[str, Any]]) -> bool:
    """Each generating call may cost money: DARKROOM_MAX_UPSTREAM_ATTEMPTS per job, in all."""
    return upstream_calls(attempts) < settings.DARKROOM_MAX_UPSTREAM_ATTEMPTS


def may_regenerate_expired(attempts: list[dict[str, Any]]) -> bool:
    """Result links that expired before we fetched them (a poll that came late) are worth
    one fresh generation; links that keep arriving dead are not worth paying for again."""
    return not any(a.get("code") == "result_expired" for a in attempts)


def _drop_broken_connections() -> None:
    # A connection the error left unusable is replaced on next use. Never inside a
    # transaction: that one is the caller's to roll back.
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


def until_stored(
    work: Callable[[], T], *, until: float, on_failure: Callable[[], None] | None = None
) -> T:
    """Run `work`, retrying with backoff while the database or the object store is away,
    until `until` (epoch seconds: the job's deadline).

    For a result the upstream was paid for: giving up on it would pay for it again.
    `on_failure` runs once, at the first failure (to keep the bytes somewhere safe).
    """
    attempt = 0
    while True:
        try:
            return work()
        except STORAGE_ERRORS as exc:
            if time.time() > until:
                raise
            attempt += 1
            log.warning("could not store a paid result (%r), retrying (attempt %d)", exc, attempt)
            if attempt == 1 and on_failure is not None:
                on_failure()
            _drop_broken_connections()
            time.sleep(min(10.0, 0.5 * 2**attempt))
