"""The reseller's multipart edits and DALL-E formats."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.quota import quota_set_limit
from generations.models import Generation
from simulator.server import SimulatorServer
from tests.images import png_bytes
from tests.upstreams import create, run_to_end, sent, sim_fixture  # noqa: F401

pytestmark = pytest.mark.django_db
MULTI = "black-forest-labs/flux-kontext-pro/multi"
T2I = "black-forest-labs/flux-kontext-max/text-to-image"
DEV = "black-forest-labs/flux.1-dev"


def test_multi_reference_goes_as_several_image_parts(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    refs = [png_bytes(64, 48, "red"), png_bytes(48, 64, "blue"), png_bytes(32, 32, "green")]
    generation = run_to_end(create(user, MULTI, images={"images": refs}), channel="reseller-edits")
    assert generation.status == Generation.Status.SUCCEEDED, generation.error_message
    [call] = sent(sim, "/v1/images/edits")
    assert call["headers"]["content-type"].startswith("multipart/form-data")
    assert call["form"] == {"model": ["flux-kontext-pro"], "prompt": ["a red fox in snow"]}
    assert [(f["field"], f["content_type"]) for f in call["files"]] == [("image", "image/png")] * 3
    assert [r["width"] for r in call["notes"]["references"]] == [64, 48, 32]


def test_text_to_image_sends_the_ratio_and_no_image(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    quota_set_limit(user=user, model=T2I, limit=5)
    generation = run_to_end(
        create(user, T2I, aspect_ratio="16:9", steps=12, negative_prompt="fog"),
        channel="reseller-edits",
    )
    assert generation.status == Generation.Status.SUCCEEDED, generation.error_message
    [call] = sent(sim, "/v1/images/edits")
    assert call["headers"]["content-type"].startswith("multipart/form-data")
    assert call["form"] == {
        "model": ["flux-kontext-max"],
        "prompt": ["a red fox in snow"],
        "aspect_ratio": ["16:9"],
    }
    assert (generation.images.get().width, generation.images.get().height) == (1344, 768)


def test_several_images_from_text_go_to_a_channel_that_can_make_them(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    quota_set_limit(user=user, model=T2I, limit=5)
    sim.add_fault("server_error", times=1, path="/v1/images/generations", model=T2I)
    generation = run_to_end(create(user, T2I, n=2, aspect_ratio="3:2"))
    assert generation.status == Generation.Status.SUCCEEDED, generation.error_message
    assert [(a["channel"], a["code"]) for a in generation.attempts] == [
        ("modelverse", "upstream_unavailable"),
        ("reseller-edits", "channel_cannot_serve"),
        ("reseller-dalle", ""),
    ]
    call = sent(sim, "/v1/images/generations")[-1]
    assert call["json"] == {
        "model": "flux-kontext-max",
        "prompt": "a red fox in snow",
        "size": "1248x832",
        "n": 2,
    }
    assert generation.images.count() == 2


def test_the_dalle_format_sends_only_its_documented_fields(
    sim: SimulatorServer, user: Any, enqueued: list
) -> None:
    generation = run_to_end(
        create(user, DEV, size="512x1024", steps=10, seed=5), channel="reseller-dalle"
    )
    assert generation.status == Generation.Status.SUCCEEDED
    call = sent(sim, "/v1/images/generations")[-1]
    assert call["format"] == "reseller"  # routed by model name, not to ModelVerse
    assert call["json"] == {"model": "flux-dev", "prompt": "a red fox in snow", "size": "512x1024"}
    assert (generation.images.get().width, generation.images.get().height) == (512, 1024)
