"""Benchmark: 500 create-then-poll jobs on a 2-thread worker (run explicitly).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/darkroom \\
        .venv/bin/pytest bench/polling.py -s -p no:cacheprovider   # BENCH_JOBS=50 for a quick run

Real processes: a Celery worker (threads pool, concurrency 2) on Redis and the
PostgreSQL test database, and the simulator process answering BFL's format with
jobs that take JOB_SECONDS upstream. Were a job to hold its worker thread while
upstream works, two threads would finish 500 jobs in 500 x JOB_SECONDS / 2; with
polling, jobs overlap by the hundred. Prints the figures next to a baseline measured
in the same run: the same jobs with no upstream wait. The suite keeps a small
functional version (tests/test_integration_polling.py).

One run on the 2-core dev machine (README):
  baseline (same jobs, 0s upstream): 47.1s; with 5s upstream: 46.8s; peak in flight 393
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from accounts.quota import quota_set_limit, quota_status
from generations.models import Generation
from tests.batches import max_overlap, submit_batch
from tests.live import Simulator, Worker, wait_all_finished

MODEL = "black-forest-labs/flux-pro"  # BFL's channel first
JOBS = int(os.environ.get("BENCH_JOBS", "500"))  # fewer for a quick check that it runs
JOB_SECONDS = 5.0
CONCURRENCY = 2
BATCH_TIMEOUT = 900.0


@pytest.fixture
def live_worker_concurrency() -> int:
    return CONCURRENCY


def run_batch(user: Any, sim: Simulator, *, job_seconds: float, tag: str) -> tuple[float, list]:
    sim.control("POST", "config", json={"job_seconds": job_seconds}).raise_for_status()
    started = time.monotonic()
    ids = submit_batch(user, model=MODEL, count=JOBS, tag=tag)
    wait_all_finished(ids, within=BATCH_TIMEOUT)
    return time.monotonic() - started, list(Generation.objects.filter(pk__in=ids))


@pytest.mark.integration
def test_bench(live_worker: Worker, live_simulator: Simulator, user: Any) -> None:
    quota_set_limit(user=user, model=MODEL, limit=2 * JOBS)

    baseline, _ = run_batch(user, live_simulator, job_seconds=0.0, tag="baseline")
    elapsed, jobs = run_batch(user, live_simulator, job_seconds=JOB_SECONDS, tag="slow")

    failed = [j.error_code for j in jobs if j.status != Generation.Status.SUCCEEDED]
    assert not failed, failed
    assert quota_status(user=user, model=MODEL).used == 2 * JOBS
    overlap = max_overlap(jobs)
    held = JOBS * JOB_SECONDS / CONCURRENCY
    print(
        f"\n{JOBS} BFL jobs, {JOB_SECONDS:g}s upstream each, worker --pool threads "
        f"--concurrency {CONCURRENCY}:\n"
        f"  baseline (same jobs, 0s upstream): {baseline:.1f}s\n"
        f"  with {JOB_SECONDS:g}s upstream:            {elapsed:.1f}s "
        f"= baseline + {elapsed - baseline:.1f}s (upstream time alone: {JOB_SECONDS:g}s)\n"
        f"  ratio to baseline + upstream time: {elapsed / (baseline + JOB_SECONDS):.2f}\n"
        f"  jobs in flight at once (peak): {overlap}\n"
        f"  holding a thread per job would take >= {held:.0f}s "
        f"({held / elapsed:.0f}x longer)"
    )
