"""Many requests waiting on slow jobs at once: all answered, no thread per request.

A real uvicorn server, worker and simulator; the simulator takes seconds per image.
WAITING requests are enough to show a thread per request if there were one;
bench/api_wait.py sends 200 and prints their latencies and threads against plain
Django ASGI in the same run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from accounts.api_keys import api_key_issue
from accounts.quota import quota_set_limit
from generations.models import Generation
from tests.live import Simulator, start_worker, stop
from tests.live_api import ApiServer, generate_many, running_api, server_env, thread_sampler

DEV = "black-forest-labs/flux.1-dev"
WAITING = 24
WARM_UP = 40
pytestmark = [pytest.mark.integration]


@pytest.fixture
def stack(
    transactional_db: None, redis_url: str, live_simulator: Simulator, settings: Any, tmp_path: Any
) -> Iterator[ApiServer]:
    """A worker with a thread per waiting job, and the API server."""
    settings.DARKROOM_API_RATE_LIMIT = 0  # every request with one key in well under a minute
    worker = start_worker(
        server_env(settings, live_simulator, redis_url),
        tmp_path / "worker.log",
        concurrency=WAITING,
    )
    try:
        with running_api(settings, live_simulator, redis_url, tmp_path / "api.log") as server:
            yield server
    finally:
        stop(worker.proc)


def test_it_answers_many_waiting_requests_with_no_more_threads(
    stack: ApiServer, live_simulator: Simulator, user: Any
) -> None:
    quota_set_limit(user=user, model=DEV, limit=1000)
    key = api_key_issue(user=user, name="load")[1]
    # Pools reach their (fixed) sizes: the API's 16 database threads need this many at once.
    asyncio.run(generate_many(stack, key, WARM_UP))
    idle = stack.threads()
    live_simulator.fault("latency", seconds=3, times=-1)

    with thread_sampler(stack) as sampler:
        results = asyncio.run(generate_many(stack, key, WAITING))

    assert [len(r.data) for r in results] == [1] * WAITING
    assert Generation.objects.filter(user=user, status="succeeded").count() == WARM_UP + WAITING
    assert sampler.peak <= idle + 1, f"threads grew from {idle} to {sampler.peak}"
