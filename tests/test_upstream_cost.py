"""What one job may cost upstream, and what may take a channel off: the attempt cap,
expired result links, every channel rate limiting, and one person's failures."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.quota import quota_status
from generations import results
from generations.models import Generation
from providers.models import Channel
from simulator.server import SimulatorServer
from tests.upstreams import create, run_to_end, sim_fixture  # noqa: F401

pytestmark = pytest.mark.django_db
DEV = "black-forest-labs/flux.1-dev"


def generating_calls(sim: SimulatorServer) -> list[dict[str, Any]]:
    """Upstream calls that make images (each one costs money): not polls, not downloads."""
    return [r for r in sim.requests() if r["method"] == "POST" and r["status"] is not None]


def refunded(user: Any) -> bool:
    status = quota_status(user=user, model=DEV)
    return (status.used, status.reserved) == (0, 0)


@pytest.mark.parametrize("cap", [4, 2])
def test_faults_on_every_channel_stop_at_the_attempt_cap(
    sim: SimulatorServer, user: Any, enqueued: list, settings: Any, cap: int
) -> None:
    settings.DARKROOM_MAX_UPSTREAM_ATTEMPTS = cap
    settings.DARKROOM_TASK_MAX_RETRIES = 4  # retries alone would allow 5 rounds of 4 channels
    sim.add_fault("server_error", times=-1)

    generation = run_to_end(create(user, DEV), max_steps=30)

    assert generation.status == Generation.Status.FAILED
    assert refunded(user)
    assert len(generating_calls(sim)) == cap
    assert generation.error_code == "upstream_unavailable"
    assert f"gave up after {cap} upstream calls" in generation.error_message
    calls = [a for a in generation.attempts if a["phase"] == "submit"]
    assert len(calls) == cap
    assert not any(a["ok"] for a in calls)
    assert generation.attempts[-1]["code"] == "max_upstream_attempts"


def test_result_links_that_keep_expiring_are_generated_again_once_then_fail_clearly(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    sim.add_fault("expired_link", times=-1)

    generation = run_to_end(create(user, DEV), max_steps=30)

    assert generation.status == Generation.Status.FAILED
    assert refunded(user)
    assert generation.error_code == "result_expired"
    assert "expired" in generation.error_message
    assert len(generating_calls(sim)) == 2  # one more try for a fresh link, no more
    downloads = [a for a in generation.attempts if a["phase"] == "download"]
    assert [a["code"] for a in downloads] == ["result_expired"] * 2


def test_a_result_host_hiccup_is_downloaded_again_not_generated_again(
    sim: SimulatorServer, user: Any, enqueued: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results, "DOWNLOAD_PAUSE", 0.0)
    sim.add_fault("server_error", times=2, path="/files/", status=503)

    generation = run_to_end(create(user, DEV))

    assert generation.status == Generation.Status.SUCCEEDED
    assert len(generating_calls(sim)) == 1
    assert len(sim.requests("/files/")) == 3


def test_when_every_channel_rate_limits_the_job_fails_at_once_and_refunds(
    sim: SimulatorServer, user: Any, enqueued: list, settings: Any
) -> None:
    settings.DARKROOM_MAX_UPSTREAM_ATTEMPTS = 10  # not what stops it here
    sim.add_fault("rate_limit", times=-1, seconds=7)

    generation = run_to_end(create(user, DEV), max_steps=1)  # no second step needed

    assert generation.status == Generation.Status.FAILED
    assert refunded(user)
    assert generation.error_code == "upstream_rate_limited"
    assert "every upstream channel for this model is rate limiting" in generation.error_message
    assert (generation.retries, len(generating_calls(sim))) == (0, 4)
    assert max(a.get("retry_after", 0) for a in generation.attempts) == 7
    assert not Channel.objects.filter(consecutive_failures__gt=0).exists()


def test_one_persons_failing_requests_leave_the_channel_serving_another(
    sim: SimulatorServer, user: Any, other_user: Any, enqueued: list
) -> None:
    # A prompt this upstream chokes on (every channel answers it 500), sent 6 times.
    for _ in range(6):
        failed = run_to_end(create(user, DEV, prompt="a fox [sim:fault=500]"), max_steps=30)
        assert failed.status == Generation.Status.FAILED
    assert Channel.objects.get(name="modelverse").consecutive_failures >= 5

    clean = run_to_end(create(other_user, DEV, prompt="a fox"))

    assert clean.status == Generation.Status.SUCCEEDED
    assert [(a["channel"], a["ok"]) for a in clean.attempts] == [("modelverse", True)]
    assert not [c.name for c in Channel.objects.all() if c.cooling_off()]


def test_requests_refused_for_their_own_content_do_not_count_against_the_channel(
    sim: SimulatorServer, user: Any, other_user: Any, enqueued: list, settings: Any
) -> None:
    settings.DARKROOM_CHANNEL_FAILURE_THRESHOLD = 2
    for person in (user, other_user, user, other_user):
        for fault in ("moderation", "400"):
            refused = run_to_end(create(person, DEV, prompt=f"x [sim:fault={fault}]"))
            assert refused.status == Generation.Status.FAILED
    modelverse = Channel.objects.get(name="modelverse")
    assert (modelverse.consecutive_failures, modelverse.cooling_off()) == (0, False)


def test_cooling_off_counts_distinct_people_not_one_persons_many_failures(
    sim: SimulatorServer, user: Any, other_user: Any, enqueued: list, settings: Any
) -> None:
    settings.DARKROOM_MAX_UPSTREAM_ATTEMPTS = 1  # each job meets modelverse once
    choke = "a fox [sim:fault=500]"  # every channel answers it 500

    def fail_once(person: Any) -> None:
        failed = run_to_end(create(person, DEV, prompt=choke), max_steps=30)
        assert failed.status == Generation.Status.FAILED

    for _ in range(5):
        fail_once(user)
    fail_once(other_user)  # one person's five plus another's one: still serving
    assert not Channel.objects.get(name="modelverse").cooling_off()

    fail_once(other_user)
    fail_once(other_user)  # three of each person's share (5 / 2 people): cools off
    assert Channel.objects.get(name="modelverse").cooling_off()
