"""End to end across real processes: PostgreSQL, a Celery worker on Redis, the simulator.

No test here stops a process: the module shares one simulator and worker (tests/live.py
`live_processes`)."""

from __future__ import annotations

from typing import Any

import pytest
from PIL import Image as PILImage

from accounts.quota import quota_status
from generations.models import Generation
from generations.services import generation_create
from tests.live import (
    Simulator,
    Worker,
    sharing_live_simulator,  # noqa: F401  (fixture: one simulator for the module)
    sharing_live_worker,  # noqa: F401  (fixture: one worker for the module)
    wait_finished,
    wait_thumbnail,
)

DEV = "black-forest-labs/flux.1-dev"
pytestmark = [pytest.mark.integration]


def test_a_request_travels_to_stored_images_and_commits_quota(
    live_worker: Worker, live_simulator: Simulator, user: Any
) -> None:
    generation = generation_create(
        user=user,
        model=DEV,
        prompt="a lighthouse at dusk",
        params={"n": 2, "size": "512x384", "seed": 7},
    )
    assert quota_status(user=user, model=DEV).reserved == 2

    wait_finished(generation)

    assert generation.status == Generation.Status.SUCCEEDED, generation.error_message
    assert generation.channel == "modelverse"
    images = list(generation.images.all())
    assert len(images) == 2
    for image in images:
        with image.file.open("rb") as fh, PILImage.open(fh) as pil:
            assert pil.size == (512, 384)
        # Made just after the answer went out, by the same worker step.
        assert wait_thumbnail(image).thumbnail.name.endswith(".webp")
    status = quota_status(user=user, model=DEV)
    assert (status.used, status.reserved, status.left) == (2, 0, 8)
    sent = [r for r in live_simulator.requests() if r["path"] == "/v1/images/generations"]
    assert sent[-1]["json"]["seed"] == 7
    assert sent[-1]["json"]["size"] == "512x384"


def test_an_upstream_that_keeps_failing_refunds_everything(
    live_worker: Worker, live_simulator: Simulator, user: Any, settings: Any
) -> None:
    live_simulator.fault("server_error", times=50)
    generation = generation_create(user=user, model=DEV, prompt="doomed", params={"n": 3})

    wait_finished(generation, timeout=120)

    assert generation.status == Generation.Status.FAILED
    assert generation.error_code == "upstream_unavailable"
    assert generation.images.count() == 0
    status = quota_status(user=user, model=DEV)
    assert (status.used, status.reserved, status.left) == (0, 0, 10)
