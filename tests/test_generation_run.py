"""A generation's life against the in-process simulator, one task step at a time.

The service is called directly (no Celery) so each fault's outcome can be
checked: what was stored, what the quota says, what the person is told.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from accounts.quota import quota_status
from generations import services
from generations.dispatch import generation_run
from generations.models import Generation
from generations.services import generation_create, sweep_stuck
from simulator.server import SimulatorServer

DEV = "black-forest-labs/flux.1-dev"
KPRO = "black-forest-labs/flux-kontext-pro"
pytestmark = pytest.mark.django_db


@pytest.fixture
def sim(settings: Any) -> Iterator[SimulatorServer]:
    with SimulatorServer(host="127.0.0.1", port=0) as server:
        settings.DARKROOM_SIMULATOR_URL = server.url
        settings.DARKROOM_UPSTREAM_TIMEOUT = 3.0
        settings.DARKROOM_TASK_MAX_RETRIES = 2
        yield server


def fault(sim: SimulatorServer, kind: str, **options: Any) -> None:
    httpx.post(f"{sim.url}/_sim/faults", json={"fault": kind, **options}).raise_for_status()


def run_to_end(
    generation: Generation, max_steps: int = 10, channel: str | None = "modelverse"
) -> Generation:
    """Run task steps until the generation finishes, as the worker would (minus the waits).

    Pinned to the ModelVerse channel: these tests are about one format's faults;
    failover between channels is tested in test_channels.py.
    """
    for _ in range(max_steps):
        if generation_run(generation_id=generation.pk, channel_name=channel).delay is None:
            break
    generation.refresh_from_db()
    return generation


def left(user: Any, model: str = DEV) -> tuple[int, int, int | None]:
    status = quota_status(user=user, model=model)
    return status.used, status.reserved, status.left


@pytest.fixture
def create(user: Any, enqueued: list) -> Any:
    def _create(**params: Any) -> Generation:
        model = params.pop("model", DEV)
        images = params.pop("images", None)
        return generation_create(
            user=user,
            model=model,
            prompt=params.pop("prompt", "a fox"),
            params=params,
            images=images,
        )

    return _create


def test_it_stores_the_images_and_commits_the_quota(
    sim: SimulatorServer, create: Any, user: Any
) -> None:
    generation = run_to_end(create(n=2, size="320x256"))
    assert generation.status == Generation.Status.SUCCEEDED
    assert [(i.width, i.height, i.format) for i in generation.images.all()] == [
        (320, 256, "PNG")
    ] * 2
    assert all(i.thumbnail and len(i.sha256) == 64 for i in generation.images.all())
    assert left(user) == (2, 0, 8)
    assert generation.attempts[-1]["channel"] == "modelverse"
    assert generation.attempts[-1]["ok"]


def test_it_takes_b64_json_with_the_data_prefix(
    sim: SimulatorServer, create: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from providers import channels

    original = channels.resolve
    monkeypatch.setattr(channels, "resolve", lambda spec: _with_b64(original(spec)))
    generation = run_to_end(create(size="256x256"))
    assert generation.status == Generation.Status.SUCCEEDED
    assert generation.images.get().width == 256


def _with_b64(channel: Any) -> Any:
    from dataclasses import replace

    return replace(channel, options={**channel.options, "response_format": "b64_json"})


def test_it_sends_reference_images_as_data_urls(sim: SimulatorServer, create: Any) -> None:
    from tests.images import png_bytes

    generation = run_to_end(create(model=KPRO, images={"image": [png_bytes(64, 48)]}))
    assert generation.status == Generation.Status.SUCCEEDED
    assert generation.references.get().width == 64
    sent = httpx.get(f"{sim.url}/_sim/requests", params={"path": "/v1/images"}).json()
    body = sent["requests"][-1]["json"]
    assert body["image"].startswith("data:image/png;base64,")


@pytest.mark.parametrize(
    ("kind", "options", "code"),
    [
        ("server_error", {"times": 10}, "upstream_unavailable"),
        ("rate_limit", {"times": 10, "seconds": 0}, "upstream_rate_limited"),
        ("garbage", {"times": 10}, "upstream_bad_response"),
        ("hang", {"times": 10}, "upstream_timeout"),
        ("expired_link", {"times": 10}, "result_expired"),
        ("moderation", {"times": 1}, "moderation_blocked"),
        ("bad_request", {"times": 1}, "invalid_request"),
        ("unauthorized", {"times": 1}, "upstream_auth_failed"),
    ],
)
def test_every_upstream_fault_fails_clearly_and_refunds(
    sim: SimulatorServer, create: Any, user: Any, kind: str, options: dict, code: str
) -> None:
    fault(sim, kind, **options)
    generation = run_to_end(create(n=3))
    assert generation.status == Generation.Status.FAILED
    assert generation.error_code == code
    assert generation.error_message
    assert generation.quota_state == Generation.QuotaState.RELEASED
    assert generation.images.count() == 0
    assert left(user) == (0, 0, 10)


def test_retryable_faults_are_retried_then_succeed(
    sim: SimulatorServer, create: Any, user: Any
) -> None:
    fault(sim, "server_error", times=1)
    generation = create()
    first = generation_run(generation_id=generation.pk, channel_name="modelverse")
    assert first.delay is not None
    assert first.delay > 0
    generation = run_to_end(generation)
    assert generation.status == Generation.Status.SUCCEEDED
    assert [a["ok"] for a in generation.attempts] == [False, True]
    assert left(user) == (1, 0, 9)


def test_non_retryable_faults_are_not_retried(sim: SimulatorServer, create: Any) -> None:
    fault(sim, "moderation", times=1)
    generation = create()
    assert generation_run(generation_id=generation.pk, channel_name="modelverse").delay is None
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert len(generation.attempts) == 1


def test_a_task_run_twice_commits_once(sim: SimulatorServer, create: Any, user: Any) -> None:
    generation = create(n=2)
    run_to_end(generation)
    files = sorted(i.file.name for i in generation.images.all())
    assert generation_run(generation_id=generation.pk).delay is None  # the duplicate delivery
    generation.refresh_from_db()
    assert sorted(i.file.name for i in generation.images.all()) == files
    assert left(user) == (2, 0, 8)


def test_a_late_duplicate_finishing_after_success_keeps_nothing(
    sim: SimulatorServer, create: Any, user: Any
) -> None:
    generation = run_to_end(create())
    again = Generation.objects.get(pk=generation.pk)
    assert services.generation_succeed(generation=again, images=[], channel="x") is False
    assert services.generation_fail(generation_id=generation.pk, code="x", message="x") is False
    assert left(user) == (1, 0, 9)


def test_the_sweeper_fails_and_refunds_a_job_whose_worker_died(create: Any, user: Any) -> None:
    generation = create(n=2)
    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.RUNNING)
    assert sweep_stuck(older_than_seconds=3600) == 0  # not stuck yet
    assert sweep_stuck(older_than_seconds=0) == 1
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Generation.Status.FAILED, "timeout")
    assert left(user) == (0, 0, 10)
    assert sweep_stuck(older_than_seconds=0) == 0  # running it twice refunds once
    assert left(user) == (0, 0, 10)


def test_a_job_settles_where_it_reserved_even_once_its_pool_is_gone(
    sim: SimulatorServer, create: Any, user: Any, admin_client: Any
) -> None:
    """Deleting a group whose pool holds a running job's images releases that hold with
    the pool; the job never falls back on the person's own quota, whose other jobs
    keep what they reserved."""
    from django.contrib.auth.models import Group

    from accounts.models import Quota
    from accounts.quota.pools import pool_set

    group = Group.objects.create(name="designers")
    group.user_set.add(user)
    pool_set(actor=None, group=group, model=DEV, size=5, period="monthly", mode="overflow")
    Quota.objects.create(user=user, model=DEV, used=8)  # 2 of their own 10 left
    own = create(n=2, size="256x256")  # held on their own quota
    pooled = create(n=3, size="256x256")  # too many for their own: held in the pool
    response = admin_client.post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Group.objects.filter(pk=group.pk).exists()

    assert run_to_end(pooled).status == Generation.Status.SUCCEEDED
    assert left(user) == (8, 2, 0)  # the pool's images were not charged to their own quota
    assert run_to_end(own).status == Generation.Status.SUCCEEDED
    assert left(user) == (10, 0, 0)
