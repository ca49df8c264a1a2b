"""The Replicate format through the reseller: translation per model, polling, fates."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.quota import quota_set_limit, quota_status
from generations.dispatch import generation_run
from generations.models import Generation
from simulator.server import SimulatorServer
from tests.images import png_bytes
from tests.upstreams import create, force_options, matches_fixture, run_to_end, sent, sim_fixture  # noqa: F401

pytestmark = pytest.mark.django_db
CH = "reseller-replicate"
DEV = "black-forest-labs/flux-dev"


@pytest.fixture(autouse=True)
def _quota(user: Any) -> None:
    for model in (
        DEV,
        "black-forest-labs/flux-pro",
        "black-forest-labs/flux-1.1-pro-ultra",
        "black-forest-labs/flux-kontext-pro",
        "black-forest-labs/flux-fill-dev",
        "black-forest-labs/flux-schnell",
    ):
        quota_set_limit(user=user, model=model, limit=20)


CASES = {
    "flux-dev": (
        DEV,
        {
            "n": 2,
            "steps": 20,
            "guidance_scale": 3.5,
            "seed": 7,
            "strength": 0.6,
            "aspect_ratio": "16:9",
        },
        ["image"],
    ),
    "flux-schnell": (
        "black-forest-labs/flux-schnell",
        {"n": 3, "steps": 4, "seed": 7, "aspect_ratio": "9:16"},
        [],
    ),
    "flux-pro": (
        "black-forest-labs/flux-pro",
        {
            "size": "1000x600",
            "steps": 30,
            "guidance_scale": 3.0,
            "seed": 7,
            "safety_tolerance": 4,
            "prompt_upsampling": True,
        },
        ["image"],
    ),
    "flux-1.1-pro-ultra": (
        "black-forest-labs/flux-1.1-pro-ultra",
        {"strength": 0.3, "raw": True, "seed": 7},
        ["image"],
    ),
    "flux-kontext-pro": (
        "black-forest-labs/flux-kontext-pro",
        {"seed": 7, "guidance_scale": 4.0},
        ["image"],
    ),
    "flux-fill-dev": (
        "black-forest-labs/flux-fill-dev",
        {"steps": 28, "guidance_scale": 30.0, "seed": 7},
        ["image", "mask"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_it_translates_our_parameters_to_each_models_inputs(
    sim: SimulatorServer, user: Any, enqueued: list, case: str
) -> None:
    model, params, refs = CASES[case]
    params = dict(params)  # type: ignore[call-overload]
    images = {name: [png_bytes(96, 64)] for name in refs}
    generation = run_to_end(create(user, model, images=images, **params), channel=CH)
    assert generation.status == Generation.Status.SUCCEEDED, generation.error_message
    created = sent(sim, "/replicate/v1/models/")[0]
    assert created["path"] == f"/replicate/v1/models/{model}/predictions"
    assert matches_fixture("replicate", case, created["json"])
    assert generation.images.count() == dict(params).get("n", 1)


def test_it_takes_one_output_link_or_a_list(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    listed = run_to_end(create(user, DEV, n=2), channel=CH)  # flux-dev answers a list
    single = run_to_end(create(user, "black-forest-labs/flux-pro"), channel=CH)  # pro: one URL
    assert (listed.images.count(), single.images.count()) == (2, 1)


def test_it_polls_through_starting_and_processing_holding_nothing(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    sim.configure(job_seconds=0.8)
    generation = create(user, DEV)
    first = generation_run(generation_id=generation.pk, channel_name=CH)
    generation.refresh_from_db()
    state: dict = generation.upstream_state or {}
    assert first.delay is not None
    assert state["state"]["id"]
    assert generation.status == Generation.Status.RUNNING
    assert generation.channel == CH
    generation = run_to_end(generation, max_wait=0.3)
    assert generation.status == Generation.Status.SUCCEEDED
    polls = sent(sim, "/replicate/v1/predictions/")
    assert len(polls) >= 2
    assert len(sent(sim, "/replicate/v1/models/")) == 1


def test_a_moderated_prediction_fails_clearly_and_refunds_once(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    sim.add_fault("moderation", path="/replicate/")
    generation = run_to_end(create(user, DEV, n=2), channel=CH)
    assert (generation.status, generation.error_code) == ("failed", "moderation_blocked")
    assert "NSFW" in generation.error_message
    assert generation_run(generation_id=generation.pk).delay is None  # a duplicate delivery
    status = quota_status(user=user, model=DEV)
    assert (status.used, status.reserved) == (0, 0)
    assert len(sent(sim, "/replicate/v1/models/")) == 1  # not retried


def test_a_prediction_the_upstream_lost_is_not_found_and_refunded(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    sim.add_fault("task_not_found", path="/replicate/v1/predictions/")
    generation = run_to_end(create(user, DEV), channel=CH)
    assert (generation.status, generation.error_code) == ("failed", "upstream_not_found")
    assert quota_status(user=user, model=DEV).reserved == 0


def test_a_crashed_prediction_is_a_failed_attempt_never_made_again(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    sim.add_fault("task_error", path="/replicate/v1/models/")
    generation = run_to_end(create(user, DEV), channel=CH)
    assert (generation.status, generation.error_code) == ("failed", "upstream_failed")
    assert len(sent(sim, "/replicate/v1/models/")) == 1
    assert not generation.attempts[-1]["ok"]
    assert generation.retries == 0
    assert quota_status(user=user, model=DEV).reserved == 0


def test_a_failing_poll_polls_again_without_a_new_prediction(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    sim.add_fault("server_error", times=2, path="/replicate/v1/predictions/")
    generation = run_to_end(create(user, DEV), channel=CH)
    assert generation.status == Generation.Status.SUCCEEDED
    assert len(sent(sim, "/replicate/v1/models/")) == 1
    assert len(sent(sim, "/replicate/v1/predictions/")) == 3


def test_a_pinned_version_is_created_by_version(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    force_options(
        DEV, CH, version="2a6b576af31790b470f0a8442e1e9791213fa13799cbb65a9fc1436e96389574"
    )
    generation = run_to_end(create(user, DEV), channel=CH)
    assert generation.status == Generation.Status.SUCCEEDED
    body = sent(sim, "/replicate/v1/predictions")[0]
    assert body["path"] == "/replicate/v1/predictions"
    assert body["json"]["version"].startswith("2a6b")


def test_a_job_past_its_poll_deadline_fails_and_refunds(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    force_options(DEV, CH, poll_deadline=0.5)
    sim.configure(job_seconds=30)
    generation = run_to_end(create(user, DEV), channel=CH, max_steps=10, max_wait=0.3)
    assert (generation.status, generation.error_code) == ("failed", "upstream_timeout")
    assert quota_status(user=user, model=DEV).reserved == 0
    assert generation.attempts[-1]["phase"] == "poll"
