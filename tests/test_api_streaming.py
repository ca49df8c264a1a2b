"""`stream: true` through Django's async test client: the event framing the SDK decodes.

No worker: jobs are captured by `enqueued` and finished by hand before the stream
is read (the stream waits for them). tests/test_api_sdk.py streams through the
official SDK against the real server, worker and simulator.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import SyncToAsync
from django.db import connections
from django.http import StreamingHttpResponse
from django.test import AsyncClient
from openai._streaming import SSEDecoder
from openai.types import ImageEditCompletedEvent, ImageGenCompletedEvent

from accounts.api_keys import api_key_issue
from accounts.quota import quota_status
from generations.api import streaming
from generations.models import Generation
from generations.services import generation_fail, generation_succeed
from generations.sync import run_sync
from tests.images import png_bytes
from tests.test_api_requests import KeyClient, upload

DEV = "black-forest-labs/flux.1-dev"
KPRO = "black-forest-labs/flux-kontext-pro"

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture
def client(user: Any) -> AsyncClient:
    return KeyClient(api_key_issue(user=user, name="test")[1])


async def body_of(response: Any) -> bytes:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join([chunk async for chunk in response.streaming_content])


def events_in(body: bytes) -> list[tuple[str | None, Any]]:
    """(event line, data) as the SDK's own decoder reads them."""
    return [(sse.event, sse.json()) for sse in SSEDecoder().iter_bytes(iter([body]))]


async def stream_generation(client: AsyncClient, **fields: Any) -> Any:
    return await client.post(
        "/v1/images/generations",
        {"model": DEV, "prompt": "a fox", "stream": True, **fields},
        content_type="application/json",
    )


async def test_it_streams_one_completed_event_per_stored_image(
    client: AsyncClient, enqueued: list, user: Any
) -> None:
    response = await stream_generation(client, n=2, partial_images=2)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    generation = await Generation.objects.aget()
    assert response["x-darkroom-job-id"] == str(generation.pk)
    assert enqueued == [str(generation.pk)]
    pngs = [png_bytes(64, 48, color="red"), png_bytes(64, 48, color="blue")]
    await run_sync(generation_succeed, generation=generation, images=pngs, channel="test")

    events = events_in(await body_of(response))

    assert [(name, data["type"]) for name, data in events] == [
        ("image_generation.completed", "image_generation.completed")
    ] * 2
    parsed = [ImageGenCompletedEvent.model_validate(data) for _, data in events]  # SDK's type
    stored = await run_sync(lambda: [i.file.read() for i in generation.images.order_by("index")])
    assert [base64.b64decode(e.b64_json) for e in parsed] == stored  # the signed files
    assert [(e.size, e.output_format) for e in parsed] == [("64x48", "png")] * 2
    assert events[0][1]["url"].startswith("http://testserver/v1/files/images/")
    status = await run_sync(quota_status, user=user, model=DEV)
    assert (status.used, status.reserved) == (2, 0)


async def test_it_streams_image_edit_events_for_an_edit(
    client: AsyncClient, enqueued: list
) -> None:
    response = await client.post(
        "/v1/images/edits",
        {"image": upload(width=40, height=30), "prompt": "night", "model": KPRO, "stream": "true"},
    )
    assert response.status_code == 200, response.content
    generation = await Generation.objects.aget()
    await run_sync(
        generation_succeed, generation=generation, images=[png_bytes(40, 30)], channel="test"
    )

    events = events_in(await body_of(response))

    assert [name for name, _ in events] == ["image_edit.completed"]
    event = ImageEditCompletedEvent.model_validate(events[0][1])
    assert (event.type, event.size) == ("image_edit.completed", "40x30")


async def test_it_ends_the_stream_with_an_error_event_when_the_job_fails(
    client: AsyncClient, enqueued: list, user: Any
) -> None:
    response = await stream_generation(client, n=2)
    generation = await Generation.objects.aget()
    await run_sync(
        generation_fail,
        generation_id=generation.pk,
        code="moderation_blocked",
        message="Content Moderated",
    )

    events = events_in(await body_of(response))

    assert events == [
        (
            "error",
            {
                "error": {
                    "message": f"The job {generation.pk} failed: Content Moderated",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "moderation_blocked",
                }
            },
        )
    ]
    status = await run_sync(quota_status, user=user, model=DEV)
    assert (status.used, status.reserved) == (0, 0)


async def test_it_keeps_the_stream_alive_then_names_the_job_when_the_wait_ceiling_passes(
    client: AsyncClient, enqueued: list, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streaming, "KEEPALIVE", 0.1)
    settings.DARKROOM_API_WAIT_CEILING = 0.5
    response = await stream_generation(client)
    generation = await Generation.objects.aget()

    body = await body_of(response)

    assert body.startswith(f": job {generation.pk}\n\n: keep-alive\n\n".encode())
    assert events_in(body) == [
        (
            "error",
            {
                "error": {
                    "message": f"The job {generation.pk} is still queued. It goes on: "
                    f"fetch it later with GET /v1/images/jobs/{generation.pk}.",
                    "type": "timeout_error",
                    "param": None,
                    "code": "wait_timeout",
                }
            },
        )
    ]


async def test_it_refuses_a_bad_stream_request_as_a_json_error_before_submitting(
    client: AsyncClient, enqueued: list
) -> None:
    bad_size = await stream_generation(client, size="4096x4096")
    variation = await client.post(
        "/v1/images/variations", {"image": upload(), "model": DEV, "stream": "true"}
    )

    assert (bad_size.status_code, bad_size.json()["error"]["param"]) == (400, "size")
    assert bad_size["Content-Type"] == "application/json"
    assert variation.status_code == 400
    assert variation.json() == {
        "error": {
            "message": "Streaming is available for generations and edits only.",
            "type": "invalid_request_error",
            "param": "stream",
            "code": "unsupported_value",
        }
    }
    assert enqueued == []
    assert await Generation.objects.acount() == 0


async def test_the_first_bytes_of_a_stream_name_the_job_before_it_finishes(
    client: AsyncClient, enqueued: list
) -> None:
    response = await stream_generation(client)
    generation = await Generation.objects.aget()
    chunks = aiter(response.streaming_content)

    first = await anext(chunks)

    assert first == f": job {generation.pk}\n\n".encode()  # an SSE comment: the SDK skips it
    await run_sync(generation_fail, generation_id=generation.pk, code="x", message="boom")
    rest = b"".join([chunk async for chunk in chunks])
    assert [name for name, _ in events_in(first + rest)] == ["error"]
