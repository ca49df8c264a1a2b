"""Faults against real processes: Redis restarting empty, PostgreSQL refusing, a worker killed.

Each test runs a few jobs of each kind through a real worker (and a real beat, whose
relay publishes again what a fault lost), breaks one part mid-run, and asserts the
end state: every job finished once, quota used == images stored, nothing reserved,
every upstream call accounted for in the job's attempts, no process left behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from django.db import connection

from accounts.quota import quota_set_limit
from generations.models import Generation
from generations.services import generation_create
from tests.chaos import (
    APPLICATION_NAME,
    Chaos,
    assert_settled,
    upstream_calls,
    wait_all_finished,
    wait_until,
)

pytestmark = [pytest.mark.integration]

SYNC = "black-forest-labs/flux.1-dev"  # ModelVerse: one call holds a worker thread
BFL = "black-forest-labs/flux-pro"  # Black Forest Labs: submit, then polls
REPLICATE = "black-forest-labs/flux-dev"  # Replicate: create, then polls
UPSTREAM_SECONDS = 6


def submit_jobs(user: Any, per_kind: int) -> dict[str, Generation]:
    for model in (SYNC, BFL, REPLICATE):
        quota_set_limit(user=user, model=model, limit=50)
    jobs = {}
    for kind, model in (("sync", SYNC), ("bfl", BFL), ("replicate", REPLICATE)):
        for i in range(per_kind):
            tag = f"chaos-{kind}-{i}"
            # The directive makes a synchronous call take a while; async jobs take
            # the simulator's job_seconds.
            prompt = (
                f"{tag} [sim:fault=latency,seconds={UPSTREAM_SECONDS}]" if kind == "sync" else tag
            )
            jobs[tag] = generation_create(user=user, model=model, prompt=prompt, params={})
    return jobs


def in_flight(chaos: Chaos, jobs: dict[str, Generation]) -> bool:
    return all(upstream_calls(chaos.simulator, tag) for tag in jobs)


def test_a_worker_killed_mid_job_loses_nothing(chaos: Chaos, user: Any) -> None:
    chaos.simulator.control("POST", "config", json={"job_seconds": UPSTREAM_SECONDS})
    jobs = submit_jobs(user, per_kind=3)
    wait_until(lambda: in_flight(chaos, jobs), within=60, what="every job sent upstream")

    chaos.kill_worker()
    chaos.new_worker()  # default lease: the dead worker's jobs are picked up in about a minute

    wait_all_finished(list(jobs.values()), within=240)
    assert_settled(user, jobs, chaos.simulator)
    sync = [jobs[tag] for tag in jobs if tag.startswith("chaos-sync")]
    for job in sync:  # their answers died with the worker: sent again, and said so
        job.refresh_from_db()
        assert [a["code"] for a in job.attempts if a["phase"] == "resume"] == [
            "interrupted_after_send"
        ]
    for tag, job in jobs.items():  # polling jobs polled on; they were never submitted twice
        if not tag.startswith("chaos-sync"):
            assert upstream_calls(chaos.simulator, tag) == 1, (tag, job.attempts)


def test_redis_restarting_empty_loses_nothing(chaos: Chaos, user: Any) -> None:
    chaos.simulator.control("POST", "config", json={"job_seconds": UPSTREAM_SECONDS})
    jobs = submit_jobs(user, per_kind=3)
    wait_until(lambda: in_flight(chaos, jobs), within=60, what="every job sent upstream")

    chaos.redis.kill()
    time.sleep(3)
    chaos.redis.start()  # empty: every queued and unacknowledged message is gone

    wait_all_finished(list(jobs.values()), within=240)
    assert chaos.worker.proc.poll() is None, chaos.worker.output()[-3000:]
    assert chaos.beat.poll() is None
    assert_settled(user, jobs, chaos.simulator)


def test_a_database_refusing_connections_loses_nothing(chaos: Chaos, user: Any) -> None:
    chaos.simulator.control("POST", "config", json={"job_seconds": 2})
    jobs = submit_jobs(user, per_kind=3)
    wait_until(
        lambda: any(upstream_calls(chaos.simulator, tag) for tag in jobs),
        within=60,
        what="a job sent upstream",
    )

    with database_refusing():
        time.sleep(20)  # the worker starts, stores and polls jobs meanwhile, and fails to

    wait_all_finished(list(jobs.values()), within=240)
    assert chaos.worker.proc.poll() is None
    assert_settled(user, jobs, chaos.simulator)


@contextmanager
def database_refusing() -> Iterator[None]:
    """The test database takes no new connection and drops the worker's and beat's.

    Never another database; and not this test process's sessions (other tests' threads
    keep theirs), which stay idle meanwhile.
    """
    name = connection.settings_dict["NAME"]
    assert name.startswith("test_"), name
    admin = _admin_connection()
    try:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = %s",
            [name, APPLICATION_NAME],
        )
        yield
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()
        # Whatever this process reopened meanwhile was terminated: start the next use
        # (and the next test) on a fresh connection.
        connection.close()


def _admin_connection() -> psycopg.Connection[Any]:
    s = connection.settings_dict
    return psycopg.connect(
        dbname="postgres",
        user=s.get("USER") or "postgres",
        password=s.get("PASSWORD") or None,
        host=s.get("HOST") or "127.0.0.1",
        port=s.get("PORT") or 5432,
        autocommit=True,
    )
