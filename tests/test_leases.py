"""Leases, step tokens and the relay: a lost message or a dead worker loses no job.

Steps run in this process against the in-process simulator; "another worker" is
this process under another lease owner name.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.db import OperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from accounts.quota import quota_status
from generations import leases, services
from generations.dispatch import generation_run
from generations.models import Generation
from generations.services import generation_create
from simulator.server import SimulatorServer
from tests.harness import wait_until

DEV = "black-forest-labs/flux.1-dev"
pytestmark = pytest.mark.django_db


@pytest.fixture
def sim(settings: Any) -> Iterator[SimulatorServer]:
    with SimulatorServer(host="127.0.0.1", port=0, job_seconds=0) as server:
        settings.DARKROOM_SIMULATOR_URL = server.url
        settings.DARKROOM_UPSTREAM_TIMEOUT = 3.0
        settings.DARKROOM_TASK_MAX_RETRIES = 2
        yield server


@pytest.fixture
def job(user: Any, enqueued: list) -> Generation:
    return generation_create(user=user, model=DEV, prompt="a fox", params={"n": 2})


@pytest.fixture
def bfl_job(user: Any, enqueued: list) -> Generation:
    # A Black Forest Labs task makes one image.
    return generation_create(user=user, model=DEV, prompt="a fox", params={"n": 1})


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs in that worker."""


def as_worker(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setattr(leases, "owner", lambda: name)


def expire_lease(generation: Generation) -> None:
    Generation.objects.filter(pk=generation.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def long_ago(generation: Generation) -> None:
    """The call marked sent went out long enough ago that it cannot be in flight now."""
    Generation.objects.filter(pk=generation.pk).update(
        upstream_sent_at=timezone.now() - timedelta(hours=1),
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )


def submits(sim: SimulatorServer, path: str) -> int:
    sent = httpx.get(f"{sim.url}/_sim/requests", params={"path": path}).json()["requests"]
    return sum(1 for r in sent if r["method"] == "POST")


def used_reserved(user: Any) -> tuple[int, int]:
    status = quota_status(user=user, model=DEV)
    return status.used, status.reserved


def test_a_step_held_by_one_worker_is_not_run_by_another(
    job: Generation, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_worker(monkeypatch, "worker-a")
    assert leases.claim(job.pk, 0)
    leases.forget(job.pk)  # as if worker-a ran it in another process

    as_worker(monkeypatch, "worker-b")
    assert not leases.claim(job.pk, 0)
    assert generation_run(generation_id=job.pk, step=0).delay is None
    job.refresh_from_db()
    assert (job.lease_owner, job.status) == ("worker-a", Generation.Status.RUNNING)


def test_a_message_for_a_step_already_done_is_dropped(
    sim: SimulatorServer, bfl_job: Generation
) -> None:
    first = generation_run(generation_id=bfl_job.pk, channel_name="bfl", step=0)
    assert first.delay is not None
    assert first.step == 1

    # The same first message again (a redelivery): nothing is submitted twice.
    assert generation_run(generation_id=bfl_job.pk, channel_name="bfl", step=0).delay is None
    assert submits(sim, "/flux/v1/flux-dev") == 1
    bfl_job.refresh_from_db()
    assert bfl_job.step == 1
    assert not bfl_job.is_finished


def test_the_relay_publishes_a_job_whose_worker_died_once(
    job: Generation, enqueued: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_worker(monkeypatch, "worker-dead")
    assert leases.claim(job.pk, 0)
    enqueued.clear()

    assert leases.relay() == 0  # its lease still runs
    expire_lease(job)
    assert leases.relay() == 1
    assert leases.relay() == 0  # the relay gave it a new lease: no second message
    assert enqueued == [str(job.pk)]
    job.refresh_from_db()
    assert job.lease_owner == ""


def test_the_relay_publishes_a_job_nobody_picked_up(job: Generation, enqueued: list) -> None:
    enqueued.clear()  # the message on commit was lost
    expire_lease(job)

    assert leases.relay() == 1
    assert enqueued == [str(job.pk)]


def test_the_relay_leaves_finished_jobs_alone(job: Generation, enqueued: list) -> None:
    services.generation_fail(generation_id=job.pk, code="x", message="stopped")
    Generation.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now())
    enqueued.clear()

    assert leases.relay() == 0
    assert enqueued == []


def test_a_dead_workers_sync_job_is_sent_again_and_says_so(
    sim: SimulatorServer, job: Generation, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_worker(monkeypatch, "worker-a")
    with monkeypatch.context() as m:
        m.setattr("generations.dispatch.download_results", _raise(WorkerKilled()))
        with pytest.raises(WorkerKilled):
            generation_run(generation_id=job.pk, channel_name="modelverse", step=0)
    job.refresh_from_db()
    assert job.upstream_sent_at is not None
    assert job.status == Generation.Status.RUNNING

    expire_lease(job)
    as_worker(monkeypatch, "worker-b")
    # Until the call cannot be in flight any more, worker-b waits for worker-a's answer.
    later = generation_run(generation_id=job.pk, channel_name="modelverse", step=0)
    assert later.delay is not None
    assert submits(sim, "/v1/images/generations") == 1
    long_ago(job)
    again = generation_run(generation_id=job.pk, channel_name="modelverse", step=later.step)
    assert again.delay is None

    job.refresh_from_db()
    assert job.status == Generation.Status.SUCCEEDED
    assert submits(sim, "/v1/images/generations") == 2
    resumed = [a for a in job.attempts if a["phase"] == "resume"]
    assert [a["code"] for a in resumed] == ["interrupted_after_send"]
    assert "sent again" in resumed[0]["message"]
    assert job.retries == 1
    assert used_reserved(user) == (2, 0)
    assert job.images.count() == 2


def test_a_resumed_job_past_its_retries_is_refunded_not_sent_again(
    sim: SimulatorServer, job: Generation, user: Any, settings: Any
) -> None:
    Generation.objects.filter(pk=job.pk).update(
        upstream_sent_at=timezone.now() - timedelta(hours=1),
        retries=settings.DARKROOM_TASK_MAX_RETRIES,
    )

    assert generation_run(generation_id=job.pk, channel_name="modelverse").delay is None

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Generation.Status.FAILED, "interrupted")
    assert submits(sim, "/v1/images/generations") == 0
    assert used_reserved(user) == (0, 0)


def test_a_dead_workers_polling_job_polls_and_never_submits_again(
    sim: SimulatorServer, bfl_job: Generation, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = bfl_job
    as_worker(monkeypatch, "worker-a")
    first = generation_run(generation_id=job.pk, channel_name="bfl", step=0)
    assert first.step == 1
    # worker-a dies before its next poll; its countdown message dies with it.
    expire_lease(job)
    as_worker(monkeypatch, "worker-b")

    for _ in range(10):
        step = Generation.objects.values_list("step", flat=True).get(pk=job.pk)
        if generation_run(generation_id=job.pk, step=step).delay is None:
            break

    job.refresh_from_db()
    assert job.status == Generation.Status.SUCCEEDED
    assert submits(sim, "/flux/v1/flux-dev") == 1
    assert not [a for a in job.attempts if a["phase"] == "resume"]
    assert used_reserved(user) == (1, 0)


def test_a_database_error_while_storing_a_result_is_retried_in_place(
    sim: SimulatorServer, job: Generation, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = services.generation_succeed
    failures = [OperationalError("the database refused the connection")]

    def flaky(**kwargs: Any) -> bool:
        if failures:
            raise failures.pop()
        return real(**kwargs)

    monkeypatch.setattr("generations.dispatch.generation_succeed", flaky)
    monkeypatch.setattr("generations.retry.time.sleep", lambda seconds: None)

    assert generation_run(generation_id=job.pk, channel_name="modelverse").delay is None

    job.refresh_from_db()
    assert job.status == Generation.Status.SUCCEEDED
    assert failures == []
    assert submits(sim, "/v1/images/generations") == 1
    assert used_reserved(user) == (2, 0)


def test_a_broker_that_is_down_does_not_fail_the_request(
    user: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    from generations.tasks import run_generation

    monkeypatch.setattr(run_generation, "apply_async", _raise(BrokerError("connection refused")))
    with django_capture_on_commit_callbacks(execute=True):
        generation = generation_create(user=user, model=DEV, prompt="a fox", params={"n": 1})

    generation.refresh_from_db()
    assert generation.status == Generation.Status.QUEUED
    assert generation.lease_expires_at is not None
    assert generation.lease_owner == ""
    assert used_reserved(user) == (0, 1)


def test_the_heartbeat_renews_the_leases_this_process_holds(
    job: Generation, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert leases.claim(job.pk, 0)
    soon = timezone.now() + timedelta(seconds=1)
    Generation.objects.filter(pk=job.pk).update(lease_expires_at=soon)

    assert leases.renew_held() == 1

    job.refresh_from_db()
    assert job.lease_expires_at is not None
    assert job.lease_expires_at > soon
    leases.forget(job.pk)


def _raise(exc: BaseException) -> Any:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return fail


def test_a_database_error_ending_a_step_leaves_the_job_to_the_tasks_retry(
    sim: SimulatorServer, bfl_job: Generation, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        m.setattr(leases, "release", _raise(OperationalError("server closed the connection")))
        with pytest.raises(OperationalError):
            generation_run(generation_id=bfl_job.pk, channel_name="bfl", step=0)

    # The task retries the same message: it polls on (not dropped as "held", not resubmitted).
    generation_run(generation_id=bfl_job.pk, channel_name="bfl", step=0)

    bfl_job.refresh_from_db()
    assert bfl_job.status == Generation.Status.SUCCEEDED
    assert submits(sim, "/flux/v1/flux-dev") == 1


def test_the_heartbeat_outlives_a_database_that_refuses_even_the_close(
    job: Generation, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.DARKROOM_LEASE_SECONDS = 0.15  # a beat every 50 ms
    beats: list[int] = []

    def renew_held() -> int:
        beats.append(1)
        return 0

    monkeypatch.setattr(leases, "renew_held", renew_held)
    refused = _raise(OperationalError("connection refused"))
    monkeypatch.setattr(leases, "close_old_connections", refused)
    monkeypatch.setattr(leases, "_heartbeat", None)  # a thread of its own, at this pace
    assert leases.claim(job.pk, 0)
    try:
        # it beat on after the first close failed
        wait_until(lambda: len(beats) >= 3, within=10, what="three beats", every=0.05)
    finally:
        leases.forget(job.pk)


def hand_over_to_worker_b(monkeypatch: pytest.MonkeyPatch, job: Generation) -> Any:
    """worker-a's heartbeat missed its renewals: the relay gives the step away and worker-b
    runs it; then the test is worker-a again. Returns worker-b's step."""
    leases.forget(job.pk)
    expire_lease(job)
    assert leases.relay() == 1
    as_worker(monkeypatch, "worker-b")
    try:
        return generation_run(generation_id=job.pk, channel_name="modelverse", step=0)
    finally:
        as_worker(monkeypatch, "worker-a")


def test_a_late_workers_paid_answer_is_stored_and_the_new_holder_never_sends(
    sim: SimulatorServer, job: Generation, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generations import dispatch

    release = dispatch.release_connection
    taken_over: list[Any] = []

    def heartbeat_late_mid_call() -> None:
        release()
        if taken_over:
            return
        # worker-a's call goes out now and its heartbeat misses its renewals: the relay
        # gives the step away, and worker-b finds the call marked sent.
        taken_over.append(hand_over_to_worker_b(monkeypatch, job))

    as_worker(monkeypatch, "worker-a")
    monkeypatch.setattr(dispatch, "release_connection", heartbeat_late_mid_call)
    assert generation_run(generation_id=job.pk, channel_name="modelverse", step=0).delay is None

    job.refresh_from_db()
    assert taken_over[0].delay is not None  # worker-b waits for the answer in flight
    assert job.status == Generation.Status.SUCCEEDED
    assert job.lease_token == 2
    assert submits(sim, "/v1/images/generations") == 1
    assert [(a["phase"], a["ok"]) for a in job.attempts] == [("submit", True)]
    assert used_reserved(user) == (2, 0)
    assert job.images.count() == 2


def test_a_late_workers_entry_and_the_new_holders_are_both_kept(
    sim: SimulatorServer, job: Generation, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """worker-a stays away past the in-flight window: worker-b takes its call as lost and
    sends again, then worker-a's paid answer arrives. Both calls are in the attempts
    (appended in the UPDATE; a read-modify-write by worker-a would drop worker-b's), the
    cap counts both, and each call is paid once: worker-a's entry names the call
    worker-b's resume note already billed, so it costs nothing."""
    from django.core.management import call_command

    from generations import dispatch, retry
    from generations.spend.costs import entry_cost

    call_command("price", "set", "--channel", "modelverse", "--model", DEV, "--per-image", "0.5")

    release = dispatch.release_connection
    taken_over: list[Any] = []

    def heartbeat_late_past_the_window() -> None:
        release()
        if taken_over:
            return
        taken_over.append(None)  # worker-b's own calls pass straight through
        # Time passes beyond the window; the call's "sent" mark stays as worker-a wrote it.
        monkeypatch.setattr(dispatch, "_in_flight_for", lambda generation: 0.0)
        taken_over.append(hand_over_to_worker_b(monkeypatch, job))

    as_worker(monkeypatch, "worker-a")
    monkeypatch.setattr(dispatch, "release_connection", heartbeat_late_past_the_window)
    generation_run(generation_id=job.pk, channel_name="modelverse", step=0)

    job.refresh_from_db()
    assert taken_over[1].delay is None  # worker-b sent again and finished the job
    assert job.status == Generation.Status.SUCCEEDED
    assert submits(sim, "/v1/images/generations") == 2
    phases = sorted((a["phase"], a["ok"]) for a in job.attempts)
    assert phases == [("resume", False), ("submit", True), ("submit", True)], job.attempts
    # Worker-a's call counts twice (worker-b's resume note, then its own entry): the cap
    # may over-count a late call, never under-count one.
    assert retry.upstream_calls(job.attempts) >= submits(sim, "/v1/images/generations")
    assert used_reserved(user) == (2, 0)
    assert job.images.count() == 2
    note, again, late = job.attempts
    assert (note["phase"], note["sent_at"]) == ("resume", late["sent_at"])
    assert [entry_cost(a) for a in (note, again, late)] == [1, 1, 0]  # two calls, paid once each
    assert late["paid_in"] == "earlier entry"
