"""Create-then-poll jobs hold no worker thread while the upstream works.

Real processes: a Celery worker (threads pool, concurrency 2) on Redis and the
PostgreSQL test database, and the simulator answering BFL's format with jobs that take
a few seconds upstream. All JOBS finish, each charged once, and more of them were in
flight at once than the worker has threads. (bench/polling.py runs 500 and prints how
long they take against a same-run baseline.)
"""

from __future__ import annotations

from typing import Any

import pytest

from accounts.quota import quota_set_limit, quota_status
from generations.models import Generation
from tests.batches import max_overlap, submit_batch
from tests.live import Simulator, Worker, wait_all_finished

pytestmark = [pytest.mark.integration]
MODEL = "black-forest-labs/flux-pro"  # BFL's channel first
JOBS = 10
CONCURRENCY = 2


@pytest.fixture
def live_worker_concurrency() -> int:
    return CONCURRENCY


def test_polling_jobs_all_finish_and_overlap_on_a_two_thread_worker(
    live_worker: Worker, live_simulator: Simulator, user: Any
) -> None:
    quota_set_limit(user=user, model=MODEL, limit=JOBS)
    live_simulator.control("POST", "config", json={"job_seconds": 5.0}).raise_for_status()

    ids = submit_batch(user, model=MODEL, count=JOBS, tag="polling")
    wait_all_finished(ids, within=300)

    jobs = list(Generation.objects.filter(pk__in=ids))
    assert [j.status for j in jobs] == [Generation.Status.SUCCEEDED] * JOBS, {
        j.error_code for j in jobs
    }
    assert all(j.channel == "bfl" and j.images.count() == 1 for j in jobs)
    status = quota_status(user=user, model=MODEL)
    assert (status.used, status.reserved) == (JOBS, 0)
    # Jobs waiting on the upstream did not wait for one of the two threads.
    assert max_overlap(jobs) > CONCURRENCY, live_worker.output()[-3000:]
