from __future__ import annotations

from typing import Any

from generations import retry


def test_backoff_grows_with_jitter_and_stays_below_the_visibility_timeout(settings: Any) -> None:
    settings.CELERY_VISIBILITY_TIMEOUT = 3600
    first = {retry.backoff(0) for _ in range(50)}
    assert all(1.0 <= d <= 2.0 for d in first)
    assert len(first) > 1
    assert all(4.0 <= retry.backoff(2) <= 8.0 for _ in range(50))
    assert all(retry.backoff(30) <= retry.max_countdown() < 3600 for _ in range(50))


def test_backoff_honours_retry_after_up_to_the_ceiling(settings: Any) -> None:
    settings.CELERY_VISIBILITY_TIMEOUT = 400
    assert retry.backoff(0, retry_after=30) >= 30
    assert retry.backoff(0, retry_after=10_000) == retry.max_countdown() == 100


def test_retries_are_bounded(settings: Any) -> None:
    settings.DARKROOM_TASK_MAX_RETRIES = 2
    assert [retry.may_retry(n) for n in range(4)] == [True, True, False, False]
