"""500 create-then-poll jobs on a 2-thread worker: polling holds no worker slot.

Real processes: a Celery worker (threads pool, concurrency 2) on Redis and the
PostgreSQL test database, and the simulator process answering BFL's format with
jobs that take JOB_SECONDS upstream. Were a job to hold its worker thread while
upstream works, two threads would finish 500 jobs in 500 x JOB_SECONDS / 2; with
polling, jobs overlap by the hundred. The run prints its figures (pytest -s) next
to a baseline measured in the same run: the same jobs with no upstream wait.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from accounts.services import quota_set_limit, quota_status
from generations.models import Generation
from generations.services import generation_create
from tests.live import Simulator, Worker

pytestmark = [pytest.mark.integration]
MODEL = "black-forest-labs/flux-pro"  # BFL's channel first
JOBS = 500
JOB_SECONDS = 5.0
CONCURRENCY = 2


@pytest.fixture
def live_worker_concurrency() -> int:
    return CONCURRENCY


def run_batch(user: Any, sim: Simulator, *, job_seconds: float, tag: str) -> tuple[float, list]:
    sim.control("POST", "config", json={"job_seconds": job_seconds}).raise_for_status()
    started = time.monotonic()
    ids = [
        generation_create(
            user=user, model=MODEL, prompt=f"{tag} kite {i}", params={"size": "256x256"}
        ).pk
        for i in range(JOBS)
    ]
    deadline = started + 600
    while time.monotonic() < deadline:
        if not Generation.objects.filter(pk__in=ids, finished_at__isnull=True).exists():
            break
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    return elapsed, list(Generation.objects.filter(pk__in=ids))


def max_overlap(jobs: list[Generation]) -> int:
    """The most jobs ever between their first step and their finish at the same moment."""
    events = sorted(
        [(j.started_at, 1) for j in jobs if j.started_at]
        + [(j.finished_at, -1) for j in jobs if j.finished_at]
    )
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


def test_500_polling_jobs_finish_on_a_two_thread_worker(
    live_worker: Worker, live_simulator: Simulator, user: Any
) -> None:
    quota_set_limit(user=user, model=MODEL, limit=2 * JOBS)

    baseline, _ = run_batch(user, live_simulator, job_seconds=0.0, tag="baseline")
    elapsed, jobs = run_batch(user, live_simulator, job_seconds=JOB_SECONDS, tag="slow")

    statuses = [j.status for j in jobs]
    assert statuses.count(Generation.Status.SUCCEEDED) == JOBS, {
        j.error_code for j in jobs if j.status != Generation.Status.SUCCEEDED
    }
    assert all(j.channel == "bfl" and j.retries == 0 for j in jobs)
    assert quota_status(user=user, model=MODEL).used == 2 * JOBS
    overlap = max_overlap(jobs)
    # Jobs waiting on the upstream did not wait for a worker thread.
    assert overlap > 20 * CONCURRENCY, overlap
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
