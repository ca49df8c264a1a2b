"""The portal's live stream (/live/): a person's job changes arrive by push, through
Django's real ASGI handler and middleware, with and without Redis, and a reconnect with
Last-Event-ID loses nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.test import AsyncClient

from generations.models import Generation, Image
from generations.portal import live
from generations.results import add_thumbnails
from generations.services import generation_create, generation_fail, generation_succeed
from tests.images import png_bytes

pytestmark = pytest.mark.django_db(transaction=True)

DEV = "black-forest-labs/flux.1-dev"
Event = dict[str, Any]


@pytest.fixture(autouse=True)
def quick(settings: Any) -> None:
    settings.DARKROOM_LIVE_POLL_INTERVAL = 0.1
    settings.DARKROOM_LIVE_CHANNEL = f"darkroom-test-live-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def without_redis(settings: Any) -> None:
    settings.CELERY_BROKER_URL = "memory://"


def _submit(user: Any, prompt: str = "a lighthouse") -> Generation:
    return generation_create(
        user=user, model=DEV, prompt=prompt, params={"size": "256x256"}, source="portal"
    )


async def _open(user: Any, **headers: str) -> tuple[Any, AsyncGenerator[bytes]]:
    client = AsyncClient()
    await client.aforce_login(user)
    response: Any = await client.get("/live/", headers=headers)
    return response, aiter(response.streaming_content)


async def _events_until(
    chunks: AsyncIterator[bytes], done: Callable[[list[Event]], bool], timeout: float = 20
) -> list[Event]:
    """The events (job and quota) read until `done(events)`; fails if they do not come in
    `timeout`."""
    events: list[Event] = []

    async def read() -> None:
        async for chunk in chunks:
            for block in chunk.decode().split("\n\n"):
                fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
                if fields.get("event") in ("job", "quota"):
                    data = json.loads(fields["data"])
                    events.append({"event": fields["event"], "id": fields.get("id"), **data})
            if done(events):
                return

    await asyncio.wait_for(read(), timeout)
    return events


def _has(job: Generation, status: str) -> Callable[[list[Event]], bool]:
    return lambda events: any(e.get("status") == status and e["id"] == str(job.pk) for e in events)


def _quota_left(left: int) -> Callable[[list[Event]], bool]:
    counter = f"<strong>{left}</strong>"
    return lambda events: any(e["event"] == "quota" and counter in e["quota"] for e in events)


def test_it_sends_a_failed_card_with_its_reason_and_the_quota(
    user: Any, enqueued: list[str], without_redis: None
) -> None:
    job = _submit(user)

    async def run() -> tuple[Any, list[Event]]:
        response, chunks = await _open(user)
        await chunks.__anext__()  # the stream is open
        await sync_to_async(generation_fail)(generation_id=job.pk, code="x", message="boom")
        # Nothing was spent: all 10 free images are left once the job failed.
        failed, refunded = _has(job, "failed"), _quota_left(10)
        return response, await _events_until(chunks, lambda e: failed(e) and refunded(e))

    response, events = asyncio.run(run())

    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    failed = next(e for e in events if e.get("status") == "failed")
    assert f'id="job-{job.pk}"' in failed["card"]
    assert "job-failed" in failed["card"]
    assert f'id="gen-{job.pk}"' in failed["tile"]
    assert failed["model"] == DEV
    assert {e["model"] for e in events if e["event"] == "quota"} == {DEV}


def test_a_published_change_wakes_the_stream_without_polling(
    settings: Any, user: Any, enqueued: list[str], redis_url: str
) -> None:
    settings.CELERY_BROKER_URL = redis_url
    settings.DARKROOM_LIVE_RECHECK = 600  # only the message can wake it in time
    job = _submit(user)

    async def run() -> list[Event]:
        _response, chunks = await _open(user)
        await chunks.__anext__()
        await asyncio.wait_for(live.hub().subscribed.wait(), 10)
        await asyncio.sleep(0.3)  # let the first (on connect) read finish
        await sync_to_async(generation_fail)(generation_id=job.pk, code="x", message="boom")
        return await _events_until(chunks, _has(job, "failed"), timeout=8)

    assert _has(job, "failed")(asyncio.run(run()))


def test_a_reconnect_with_last_event_id_loses_no_change(
    user: Any, enqueued: list[str], without_redis: None
) -> None:
    first, second = _submit(user, "first"), _submit(user, "second")

    async def run() -> list[Event]:
        _, chunks = await _open(user)
        await chunks.__anext__()
        await sync_to_async(generation_fail)(generation_id=first.pk, code="x", message="a")
        seen = await _events_until(chunks, _has(first, "failed"))
        await chunks.aclose()  # the connection drops...
        # ...and the second job finishes while no stream is open.
        await sync_to_async(generation_fail)(generation_id=second.pk, code="x", message="b")
        last_id = [e["id"] for e in seen if e["event"] == "job"][-1]
        _, again = await _open(user, **{"Last-Event-ID": last_id})
        return await _events_until(again, _has(second, "failed"))

    assert _has(second, "failed")(asyncio.run(run()))


def test_a_success_is_announced_once_its_thumbnails_exist(user: Any, enqueued: list[str]) -> None:
    job = _submit(user)
    image = Image(generation=job, width=8, height=8, format="PNG", bytes=1)
    image.file.save("x.png", ContentFile(png_bytes(8, 8)), save=True)  # no thumbnail yet
    finished = live.parse_cursor(None) - live.REREAD_MARGIN / 2
    Generation.objects.filter(pk=job.pk).update(status="succeeded", finished_at=finished)
    since = {user.pk: finished - live.REREAD_MARGIN / 4}
    languages = {user.pk: {"en"}}

    before = live.read_changes(since, languages)
    add_thumbnails([Image.objects.get(pk=image.pk)])
    after = live.read_changes(since, languages)

    assert [c.status for c in before.get((user.pk, "en"), [])] == []
    (change,) = after[(user.pk, "en")]
    assert change.status == "succeeded"
    assert f"/images/{image.pk}/thumbnail/" in change.card


@pytest.mark.parametrize("source", ["portal", "api"])
def test_a_finished_job_is_announced_with_its_thumbnails_there(
    user: Any, enqueued: list[str], monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    job = generation_create(
        user=user, model=DEV, prompt="a fox", params={"size": "256x256"}, source=source
    )
    at_announce: list[list[bool]] = []

    def announced(generation: Generation) -> None:
        images = Image.objects.filter(generation=generation)
        at_announce.append(
            [bool(i.thumbnail) and i.thumbnail.storage.exists(i.thumbnail.name) for i in images]
        )

    monkeypatch.setattr("generations.services.announce", announced)

    generation_succeed(generation=job, images=[png_bytes(64, 64)], channel="modelverse")

    assert at_announce == [[True]]


def test_a_read_renders_only_the_named_jobs_some_stream_lacks(
    user: Any, enqueued: list[str]
) -> None:
    seen, fresh, other = _submit(user, "seen"), _submit(user, "fresh"), _submit(user, "other")
    for job in (seen, fresh, other):
        generation_fail(generation_id=job.pk, code="x", message="boom")
    languages = {user.pk: {"en"}}
    named = {user.pk: {str(seen.pk), str(fresh.pk)}}

    found = live.read_changes({}, languages, named, {user.pk: {str(seen.pk): "failed"}})

    assert [c.job for c in found[(user.pk, "en")]] == [str(fresh.pk)]


def test_it_refuses_a_stream_to_nobody(client: Any) -> None:
    assert client.get("/live/").status_code == 403
