"""Benchmark: 200 concurrent /v1 requests waiting on slow jobs (run explicitly).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/darkroom \
        .venv/bin/pytest bench/api_wait.py -s -p no:cacheprovider

Prints, all from one run: one request's latency alone (the baseline), the 200's
latencies as multiples of it, and the server's threads at peak against idle,
for Darkroom's ASGI app and for plain Django ASGI (the control).

One run on the 2-core dev machine:
    200 concurrent requests, upstream latency 3.0s, worker 64 threads (so at best ~4 x baseline)
  darkroom     baseline 3.68s | wall 11.0x | p50 6.4x | p95 8.4x | threads idle 12 peak 12 (1.00x)
  plain django baseline 3.53s | wall 9.9x | p50 6.4x | p95 8.5x | threads idle 11 peak 211 (19.18x)
Latencies match: the worker and simulator on two cores set the pace; the
difference is the thread per waiting request.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import pytest

from accounts.api_keys import api_key_issue
from accounts.quota import quota_set_limit
from tests.live import Simulator, start_worker, stop
from tests.live_api import DEV, generate_many, server_env, start_api, thread_sampler

COUNT, LATENCY, WORKER_THREADS = 200, 3.0, 64


async def timed(server: Any, key: str, count: int) -> list[float]:
    async def one(i: int) -> float:
        t = time.monotonic()
        await generate_many(server, key, 1)
        return time.monotonic() - t

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def run(app: str, env: dict[str, str], tmp_path: Any, key: str) -> dict[str, float]:
    server = start_api(env, tmp_path / f"{app}.log", app=app)
    try:
        asyncio.run(generate_many(server, key, 12))  # warm the pools
        idle = server.threads()
        base = statistics.median(asyncio.run(timed(server, key, 1))[0] for _ in range(3))
        with thread_sampler(server) as sampler:
            t = time.monotonic()
            lat = sorted(asyncio.run(timed(server, key, COUNT)))
            wall = time.monotonic() - t
        return {
            "idle": idle,
            "peak": sampler.peak,
            "base": base,
            "wall": wall,
            "p50": lat[len(lat) // 2],
            "p95": lat[int(len(lat) * 0.95)],
        }
    finally:
        stop(server.proc)


@pytest.mark.integration
def test_bench(
    transactional_db: None,
    redis_url: str,
    live_simulator: Simulator,
    settings: Any,
    tmp_path: Any,
    user: Any,
) -> None:
    quota_set_limit(user=user, model=DEV, limit=100_000)
    key = api_key_issue(user=user, name="bench")[1]
    settings.DARKROOM_API_RATE_LIMIT = 0  # one key sends every request
    env = server_env(settings, live_simulator, redis_url)
    worker = start_worker(env, tmp_path / "worker.log", concurrency=WORKER_THREADS)
    live_simulator.fault("latency", seconds=LATENCY, times=-1)
    try:
        rows = {
            name: run(app, env, tmp_path, key)
            for name, app in [
                ("darkroom", "config.asgi:application"),
                ("plain django", "bench.plain_asgi:application"),
            ]
        }
    finally:
        stop(worker.proc)
    floor = -(-COUNT // WORKER_THREADS)  # waves the worker needs, in baseline units
    print(
        f"\n{COUNT} concurrent requests, upstream latency {LATENCY}s, worker {WORKER_THREADS} "
        f"threads (so at best ~{floor} x baseline wall time)"
    )
    for name, r in rows.items():
        print(
            f"{name:13} baseline {r['base']:.2f}s | wall {r['wall'] / r['base']:.1f}x | "
            f"p50 {r['p50'] / r['base']:.1f}x | p95 {r['p95'] / r['base']:.1f}x | "
            f"threads idle {r['idle']:.0f} peak {r['peak']:.0f} ({r['peak'] / r['idle']:.2f}x)"
        )
