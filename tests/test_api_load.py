"""Many requests waiting on slow jobs at once: all answered, no thread per request.

A real uvicorn server, worker and simulator; the simulator takes seconds per image.
bench/api_wait.py measures the same thing against plain Django ASGI for contrast.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from openai import AsyncOpenAI

from accounts.api_keys import api_key_issue
from accounts.services import quota_set_limit
from generations.models import Generation
from tests.live import Simulator, start_worker, stop
from tests.live_api import ApiServer, running_api, server_env

DEV = "black-forest-labs/flux.1-dev"
pytestmark = [pytest.mark.integration]


class ThreadSampler:
    """The most threads a process had while the block ran."""

    def __init__(self, server: ApiServer) -> None:
        self.server, self.peak, self._stop = server, 0, threading.Event()

    def __enter__(self) -> ThreadSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.server.threads())


async def generate_many(server: ApiServer, key: str, count: int) -> list[Any]:
    async with AsyncOpenAI(base_url=server.url, api_key=key, timeout=300, max_retries=0) as client:
        return await asyncio.gather(
            *(
                client.images.generate(model=DEV, prompt=f"load {i}", size="256x256")
                for i in range(count)
            )
        )


@pytest.fixture
def stack(
    transactional_db: None, redis_url: str, live_simulator: Simulator, settings: Any, tmp_path: Any
) -> Iterator[ApiServer]:
    """A 64-thread worker (8 would take minutes for 200 slow jobs) and the API server."""
    settings.DARKROOM_API_RATE_LIMIT = 0  # 240 requests with one key in well under a minute
    worker = start_worker(
        server_env(settings, live_simulator, redis_url), tmp_path / "worker.log", concurrency=64
    )
    try:
        with running_api(settings, live_simulator, redis_url, tmp_path / "api.log") as server:
            yield server
    finally:
        stop(worker.proc)


def test_it_answers_200_waiting_requests_with_no_more_threads(
    stack: ApiServer, live_simulator: Simulator, user: Any
) -> None:
    quota_set_limit(user=user, model=DEV, limit=1000)
    key = api_key_issue(user=user, name="load")[1]
    asyncio.run(generate_many(stack, key, 40))  # pools reach their (fixed) sizes
    idle = stack.threads()
    live_simulator.fault("latency", seconds=3, times=-1)

    with ThreadSampler(stack) as sampler:
        results = asyncio.run(generate_many(stack, key, 200))

    assert [len(r.data) for r in results] == [1] * 200
    assert Generation.objects.filter(user=user, status="succeeded").count() == 240
    assert sampler.peak <= idle + 1, f"threads grew from {idle} to {sampler.peak}"
