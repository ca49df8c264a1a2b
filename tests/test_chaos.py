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
from generations.publishing import publish
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


def submit_jobs(user: Any, per_kind: int, sync_fault: str = "") -> dict[str, Generation]:
    """`sync_fault` replaces the synchronous calls' directive (default: each call is slow)."""
    sync_fault = sync_fault or f"[sim:fault=latency,seconds={UPSTREAM_SECONDS}]"
    for model in (SYNC, BFL, REPLICATE):
        quota_set_limit(user=user, model=model, limit=50)
    jobs = {}
    for kind, model in (("sync", SYNC), ("bfl", BFL), ("replicate", REPLICATE)):
        for i in range(per_kind):
            tag = f"chaos-{kind}-{i}"
            # The directive makes a synchronous call take a while; async jobs take
            # the simulator's job_seconds.
            prompt = f"{tag} {sync_fault}" if kind == "sync" else tag
            jobs[tag] = generation_create(user=user, model=model, prompt=prompt, params={})
    return jobs


def in_flight(chaos: Chaos, jobs: dict[str, Generation]) -> bool:
    return all(upstream_calls(chaos.simulator, tag) for tag in jobs)


def test_a_worker_killed_mid_job_loses_nothing(chaos: Chaos, user: Any) -> None:
    chaos.simulator.control("POST", "config", json={"job_seconds": UPSTREAM_SECONDS})
    # The first call of each synchronous job hangs, so it is surely in flight when the worker
    # dies however long a loaded machine takes to send the others; the call sent again answers.
    jobs = submit_jobs(user, per_kind=3, sync_fault="[sim:fault=latency,seconds=600,times=1]")
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


def late_sync_jobs(user: Any, tags: list[str], seconds: float) -> dict[str, Generation]:
    quota_set_limit(user=user, model=SYNC, limit=20)
    prompt = "{} [sim:fault=latency,seconds=" + str(seconds) + "]"
    return {
        tag: generation_create(user=user, model=SYNC, prompt=prompt.format(tag), params={})
        for tag in tags
    }


def assert_paid_once(chaos: Chaos, jobs: dict[str, Generation]) -> None:
    for tag, job in jobs.items():
        job.refresh_from_db()
        assert upstream_calls(chaos.simulator, tag) == 1, (tag, job.attempts)
        assert not [a for a in job.attempts if a["phase"] == "resume"], (tag, job.attempts)


def test_a_sync_call_in_flight_through_90s_of_refused_connections_is_paid_once(
    chaos: Chaos, user: Any
) -> None:
    # A second worker takes what the relay publishes again once the database is back
    # (the first one, whose heartbeat missed every renewal, only finishes its calls).
    chaos.new_worker(concurrency=4, name="takeover")
    chaos.stop_consuming("takeover")
    jobs = late_sync_jobs(user, ["chaos-late-0", "chaos-late-1"], seconds=15)
    wait_until(lambda: in_flight(chaos, jobs), within=60, what="every call in flight")

    with database_refusing():
        chaos.start_consuming("takeover")
        chaos.stop_consuming("celery")
        time.sleep(90)  # past the lease: the relay gives both jobs away when it is back

    wait_all_finished(list(jobs.values()), within=240)
    assert_settled(user, jobs, chaos.simulator)
    assert_paid_once(chaos, jobs)


def test_a_heartbeat_starved_of_connections_never_pays_twice(
    chaos: Chaos, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    chaos.kill_worker()  # idle; replaced by one whose only pooled connection we can take
    chaos.new_worker(
        concurrency=4, name="starved", DARKROOM_DB_POOL_SIZE="1", DARKROOM_LEASE_SECONDS="9"
    )
    chaos.new_worker(concurrency=4, name="takeover")
    chaos.stop_consuming("takeover")
    jobs = late_sync_jobs(user, ["chaos-starved"], seconds=25)
    job = jobs["chaos-starved"]
    wait_until(lambda: in_flight(chaos, jobs), within=60, what="the call in flight")

    with monkeypatch.context() as m:  # its message is sent below, once its row is locked
        m.setattr("generations.publishing.publish", lambda *args, **kwargs: True)
        jobs.update(late_sync_jobs(user, ["chaos-blocker"], seconds=0))
    blocker = jobs["chaos-blocker"]
    with row_locked(blocker):
        # The starved worker's thread claiming it waits on the lock holding the pool's
        # one connection: the heartbeat gets none, and the lease runs out mid-call.
        publish(blocker.pk, step=0)
        chaos.start_consuming("takeover")
        chaos.stop_consuming("starved")
        wait_until(
            lambda: Generation.objects.get(pk=job.pk).lease_token > 1,
            within=120,
            what="the late worker's job taken over",
        )

    wait_all_finished(list(jobs.values()), within=240)
    assert_settled(user, jobs, chaos.simulator)
    assert_paid_once(chaos, jobs)


@contextmanager
def row_locked(generation: Generation) -> Iterator[None]:
    """A transaction elsewhere holds the job's row lock: every UPDATE of it waits."""
    s = connection.settings_dict
    other = _admin_connection(dbname=s["NAME"])
    try:
        other.autocommit = False
        other.execute(
            "SELECT 1 FROM generations_generation WHERE id = %s FOR UPDATE", [generation.pk]
        )
        yield
    finally:
        other.rollback()
        other.close()


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


def _admin_connection(dbname: str = "postgres") -> psycopg.Connection[Any]:
    s = connection.settings_dict
    return psycopg.connect(
        dbname=dbname,
        user=s.get("USER") or "postgres",
        password=s.get("PASSWORD") or None,
        host=s.get("HOST") or "127.0.0.1",
        port=s.get("PORT") or 5432,
        autocommit=True,
    )
