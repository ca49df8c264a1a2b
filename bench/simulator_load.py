"""Benchmark: 200 slow requests to the simulator at once (run explicitly).

    .venv/bin/pytest bench/simulator_load.py -s -p no:cacheprovider

Prints the wall time of COUNT concurrent requests, each held LATENCY seconds
upstream, as a multiple of one request's time alone measured in the same run:
near 1x means the simulator serves them all at once; COUNTx would mean one at a
time. The suite keeps a functional version (tests/test_simulator.py:
test_it_serves_slow_requests_at_once).
"""

from __future__ import annotations

import asyncio
import time

import httpx

from simulator import SimulatorServer
from tests.live_api import DEV

COUNT, LATENCY = 200, 2.0
KEY = "bench-key"  # the key this bench's own simulator accepts
AUTH = {"Authorization": f"Bearer {KEY}"}


async def timed(url: str, count: int) -> float:
    body = {"model": DEV, "prompt": "load", "size": "256x256"}
    limits = httpx.Limits(max_connections=count + 50)
    async with httpx.AsyncClient(limits=limits, timeout=300) as c:
        started = time.monotonic()
        answers = await asyncio.gather(
            *(c.post(f"{url}/v1/images/generations", json=body, headers=AUTH) for _ in range(count))
        )
    assert [a.status_code for a in answers] == [200] * count
    return time.monotonic() - started


def test_bench() -> None:
    with SimulatorServer(keys=KEY, latency=LATENCY) as server:
        alone = asyncio.run(timed(server.url, 1))
        together = asyncio.run(timed(server.url, COUNT))
    print(
        f"\n{COUNT} requests at once, {LATENCY:g}s upstream latency each:\n"
        f"  one alone: {alone:.2f}s | all {COUNT}: {together:.2f}s "
        f"= {together / alone:.2f}x one alone (one at a time would be {COUNT}x)"
    )
