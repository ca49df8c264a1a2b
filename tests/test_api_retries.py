"""Retries of /v1 calls are never charged twice, and a part that is down leaves nothing
reserved: the SDK's own retries join their job, every answer names the job, a broker
that is down still accepts the job, a database that is down answers 503 with nothing spent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError
from django.test import AsyncClient
from django.utils import timezone

from accounts.api_keys import api_key_issue
from accounts.quota import quota_status
from generations.api.tasks import UNSENT_AFTER, deliver_webhook, requeue_unsent_webhooks
from generations.models import Generation, Webhook
from generations.services import generation_fail, generation_succeed
from generations.sync import run_sync
from tests.images import png_bytes
from tests.live import free_port, point_app_at, restore_app
from tests.test_api_requests import ASYNC, DEV, KeyClient, anyio_backend  # noqa: F401

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]
BODY = {"model": DEV, "prompt": "a heron", "n": 2}


@pytest.fixture
def client(user: Any) -> AsyncClient:
    return KeyClient(api_key_issue(user=user, name="test")[1])


def sdk(retry: int, **headers: str) -> dict[str, str]:
    """What the official SDK sends on its first try (0) and on each retry (1, 2)."""
    return {"x-stainless-retry-count": str(retry), **headers}


async def post(client: AsyncClient, headers: dict[str, str], body: Any = None) -> Any:
    return await client.post(
        "/v1/images/generations", body or BODY, content_type="application/json", headers=headers
    )


async def reserved(user: Any) -> tuple[int, int]:
    status = await run_sync(quota_status, user=user, model=DEV)
    return status.used, status.reserved


async def test_the_sdks_retries_join_the_job_of_their_first_try(
    client: AsyncClient, user: Any, enqueued: list, settings: Any
) -> None:
    settings.DARKROOM_API_WAIT_CEILING = 0.2
    first = await post(client, sdk(0))
    job_id = first["x-darkroom-job-id"]
    assert first.status_code == 504
    assert first["x-should-retry"] == "true"

    again = await post(client, sdk(1))
    assert (again.status_code, again["x-darkroom-job-id"]) == (504, job_id)
    generation = await Generation.objects.aget()
    pngs = [png_bytes(64, 48), png_bytes(64, 48, color="blue")]
    await run_sync(generation_succeed, generation=generation, images=pngs, channel="test")
    last = await post(client, sdk(2))

    assert last.status_code == 200
    assert last["x-darkroom-job-id"] == job_id
    assert len(last.json()["data"]) == 2
    assert await Generation.objects.acount() == 1
    assert set(enqueued) == {job_id}  # one job; the retry while it was queued nudged it
    assert await reserved(user) == (2, 0)
    # Answered: the same call made again later is a new job, charged again.
    new = await post(client, sdk(0), {**BODY, "n": 1})
    assert new["x-darkroom-job-id"] != job_id
    assert await Generation.objects.acount() == 2


async def test_a_retry_publishes_again_a_job_that_never_started_and_no_other(
    client: AsyncClient, user: Any, enqueued: list, settings: Any
) -> None:
    """A web process killed between a job's commit and its publish leaves the job queued
    with no message; the SDK's retry, joining it, publishes it again rather than waiting
    for the relay. A job that has started is not published by a retry."""
    settings.DARKROOM_API_WAIT_CEILING = 0.2
    first = await post(client, sdk(0))
    job_id = first["x-darkroom-job-id"]
    enqueued.clear()  # the first message, lost with the web process that sent it

    await post(client, sdk(1))
    assert enqueued == [job_id]

    await Generation.objects.filter(pk=job_id).aupdate(
        status=Generation.Status.RUNNING, started_at=timezone.now()
    )
    await post(client, sdk(2))
    assert enqueued == [job_id]
    assert await Generation.objects.acount() == 1


async def test_a_retry_after_the_job_failed_starts_a_new_one(
    client: AsyncClient, user: Any, enqueued: list
) -> None:
    first = await post(client, sdk(0, **ASYNC))
    await run_sync(generation_fail, generation_id=first.json()["id"], code="x", message="boom")

    retry = await post(client, sdk(1, **ASYNC))

    assert retry.status_code == 202
    assert retry.json()["id"] != first.json()["id"]
    assert await reserved(user) == (0, 2)


async def test_without_the_sdks_header_a_wait_timeout_is_not_retryable(
    client: AsyncClient, enqueued: list, settings: Any
) -> None:
    settings.DARKROOM_API_WAIT_CEILING = 0.2
    response = await post(client, {})
    generation = await Generation.objects.aget()
    assert (response.status_code, response["x-should-retry"]) == (504, "false")
    assert response["x-darkroom-job-id"] == str(generation.pk)


async def test_a_job_every_channel_rate_limited_answers_429_with_retry_after(
    client: AsyncClient, user: Any, enqueued: list
) -> None:
    first = await post(client, {**ASYNC, "Idempotency-Key": "k1"})
    job_id = first.json()["id"]
    limited = {"phase": "submit", "code": "upstream_rate_limited", "retry_after": 7.5}
    await Generation.objects.filter(pk=job_id).aupdate(attempts=[limited])
    await run_sync(
        generation_fail, generation_id=job_id, code="upstream_rate_limited", message="slow down"
    )

    response = await post(client, {"Idempotency-Key": "k1"})

    assert response.status_code == 429
    assert (response["Retry-After"], response["x-should-retry"]) == ("8", "true")
    assert response.json()["error"]["code"] == "upstream_rate_limited"
    assert response["x-darkroom-job-id"] == job_id
    assert await reserved(user) == (0, 0)


@pytest.fixture
def broker_down() -> Any:
    """Celery publishes to a Redis port nothing listens on."""
    from config.celery import app

    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    saved = point_app_at(app, nowhere, app.conf.task_default_queue)
    yield
    restore_app(app, saved)


async def test_a_request_while_the_broker_is_down_is_accepted_and_reserved_once(
    client: AsyncClient, user: Any, broker_down: None
) -> None:
    response = await post(client, sdk(0, **ASYNC))

    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    generation = await Generation.objects.aget()
    assert (generation.status, generation.quota_reserved) == ("queued", 2)
    assert await reserved(user) == (0, 2)


async def test_a_request_while_the_database_is_down_answers_503_with_nothing_reserved(
    client: AsyncClient, user: Any, enqueued: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(**kwargs: Any) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr("generations.services.quota_hold", refused)  # the first write

    response = await post(client, sdk(0))

    assert response.status_code == 503
    assert (response["Retry-After"], response["x-should-retry"]) == ("5", "true")
    assert response.json()["error"] == {
        "message": "The service is briefly unavailable; try again shortly.",
        "type": "server_error",
        "param": None,
        "code": "service_unavailable",
    }
    assert await Generation.objects.acount() == 0
    assert enqueued == []
    assert await reserved(user) == (0, 0)


async def test_a_job_finishing_while_the_broker_is_down_is_stored_and_its_notice_kept(
    client: AsyncClient, user: Any, broker_down: None
) -> None:
    body = {**BODY, "n": 1, "webhook_url": "https://hooks.example.com/darkroom"}
    job_id = (await post(client, ASYNC, body)).json()["id"]
    generation = await Generation.objects.aget(pk=job_id)

    stored = await run_sync(
        generation_succeed, generation=generation, images=[png_bytes(64, 48)], channel="test"
    )

    assert stored is True
    assert await reserved(user) == (1, 0)
    webhook = await Webhook.objects.aget(generation_id=job_id)
    assert webhook.delivered_at is None  # not lost: still marked undelivered


async def test_beat_queues_again_a_notice_whose_message_was_lost(
    client: AsyncClient, broker_down: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {**BODY, "n": 1, "webhook_url": "https://hooks.example.com/darkroom"}
    job_id = (await post(client, ASYNC, body)).json()["id"]
    generation = await Generation.objects.aget(pk=job_id)
    await run_sync(generation_succeed, generation=generation, images=[png_bytes()], channel="t")

    assert await run_sync(requeue_unsent_webhooks) == 0  # too recent: may still be queued
    ended = timezone.now() - timedelta(seconds=UNSENT_AFTER + 1)
    await Generation.objects.filter(pk=job_id).aupdate(finished_at=ended)
    assert await run_sync(requeue_unsent_webhooks) == 0  # the broker is still down
    sent: list[str] = []
    monkeypatch.setattr(deliver_webhook, "delay", sent.append)
    assert await run_sync(requeue_unsent_webhooks) == 1
    assert sent == [job_id]
