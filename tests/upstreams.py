"""Helpers for the per-format and channel tests: an in-process simulator speaking
every format, and a generation driven step by step through the real service."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generations.dispatch import generation_run
from generations.models import Generation
from generations.services import generation_create
from simulator.server import SimulatorServer

FIXTURES = Path(__file__).with_name("fixtures")


@pytest.fixture(name="sim")
def sim_fixture(settings: Any) -> Iterator[SimulatorServer]:
    # Asynchronous jobs finish at once: the step loop below needs no waits.
    with SimulatorServer(host="127.0.0.1", port=0, job_seconds=0) as server:
        settings.DARKROOM_SIMULATOR_URL = server.url
        settings.DARKROOM_UPSTREAM_TIMEOUT = 5.0
        settings.DARKROOM_TASK_MAX_RETRIES = 2
        yield server


def create(
    user: Any, model: str, *, prompt: str = "a red fox in snow", images: Any = None, **params: Any
) -> Generation:
    return generation_create(user=user, model=model, prompt=prompt, params=params, images=images)


def run_to_end(
    generation: Generation,
    *,
    channel: str | None = None,
    max_steps: int = 20,
    max_wait: float = 0.0,
) -> Generation:
    """Run task steps as the worker would; waits (capped at `max_wait`) only when asked."""
    for _ in range(max_steps):
        step = generation_run(generation_id=generation.pk, channel_name=channel)
        if step.delay is None:
            break
        if max_wait:
            time.sleep(min(step.delay, max_wait))
    generation.refresh_from_db()
    return generation


def sent(sim: SimulatorServer, path: str) -> list[dict[str, Any]]:
    return [r for r in sim.requests(path) if r["status"] is not None]


def fixture(provider: str, name: str) -> Any:
    return json.loads((FIXTURES / provider / f"{name}.json").read_text())


def scrub(value: Any) -> Any:
    """A recorded payload with image data replaced by a marker, for comparing with fixtures."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, str) and value.startswith("data:image/"):
        return "<data-url " + value.split(";", 1)[0][5:] + ">"
    if isinstance(value, str) and len(value) > 200:
        return "<base64>"
    return value


def matches_fixture(provider: str, name: str, payload: Any) -> bool:
    """Compare with tests/fixtures/<provider>/<name>.json.

    RECORD_FIXTURES=1 writes the file and then fails the test: a recording is checked
    by a person and the test re-run, so recording can never make a test pass.
    """
    import os

    path = FIXTURES / provider / f"{name}.json"
    if os.environ.get("RECORD_FIXTURES"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(scrub(payload), indent=2, sort_keys=True) + "\n")
        pytest.fail(f"recorded {path}: check it, then re-run without RECORD_FIXTURES")
    return bool(scrub(payload) == json.loads(path.read_text()))


def force_options(model: str, channel: str, **options: Any) -> None:
    from providers.models import ChannelModel

    route = ChannelModel.objects.get(model=model, channel__name=channel)
    route.options = {**route.options, **options}
    route.save(update_fields=["options"])
