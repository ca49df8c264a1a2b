"""`stream: true`: the job's images as server-sent events, shaped as OpenAI's SDK reads them.

The SDK only yields events from a `text/event-stream` body (a JSON answer to a
stream request gives it zero events and no error). We make no partial images,
so a stream is: comment lines while the job runs (proxies and clients drop a
silent connection), then one `<kind>.completed` event per stored image, where
kind is `image_generation` or `image_edit`, and the end. If the job fails or
outlives the wait ceiling, one `error` event instead, whose data is our error
envelope: the SDK raises it as an `openai.APIError` carrying its code and param.
The request holds no thread while it waits (waiting.py), only between reads.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse

from common.errors import InvalidRequest
from common.ops import shutdown
from generations.api.errors import api_error
from generations.api.files import image_url
from generations.api.responses import require_succeeded
from generations.api.waiting import wait_finished
from generations.models import Generation, Image
from generations.sync import run_sync

# Seconds between keep-alive comments while the job runs.
KEEPALIVE = 15.0
KEEPALIVE_LINE = b": keep-alive\n\n"
_KINDS = {"images-generations": "image_generation", "images-edits": "image_edit"}
_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
# Required by the SDK's event types; token counts mean nothing for these models.
_NO_USAGE = {
    "input_tokens": 0,
    "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
    "output_tokens": 0,
    "total_tokens": 0,
}


def stream_kind(request: HttpRequest) -> str:
    """The event prefix for the endpoint, or 400 (variations have no streaming form)."""
    kind = _KINDS.get(getattr(request.resolver_match, "url_name", None) or "")
    if kind is None:
        raise InvalidRequest(
            "Streaming is available for generations and edits only.",
            param="stream",
            code="unsupported_value",
        )
    return kind


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One event; the `event:` line repeats the data's type, as OpenAI's streams do."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def stream_response(generation_id: UUID, *, kind: str, base: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        events(generation_id, kind=kind, base=base), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx would hold the events back otherwise
    response["x-darkroom-job-id"] = str(generation_id)
    return response


async def events(generation_id: UUID, *, kind: str, base: str) -> AsyncIterator[bytes]:
    # First, before any wait: the job's id, for a client whose connection breaks later.
    # A comment line, which SSE clients (the SDK's too) skip.
    yield f": job {generation_id}\n\n".encode()
    try:
        async for line in _keepalives(generation_id):
            yield line
        for image_id in await run_sync(_image_ids, generation_id):
            yield await run_sync(_completed_sse, image_id, kind, base)
    except Exception as exc:  # the 200 is already sent: a failure can only be an event now
        yield sse("error", api_error(exc).envelope())


async def _keepalives(generation_id: UUID) -> AsyncIterator[bytes]:
    """A comment every KEEPALIVE seconds until the job ends or the wait ceiling passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.DARKROOM_API_WAIT_CEILING
    while True:
        left = deadline - loop.time()
        if await wait_finished(generation_id, timeout=max(0.0, min(KEEPALIVE, left))):
            return
        if left <= KEEPALIVE or shutdown.draining():  # the error event then names the job
            return
        yield KEEPALIVE_LINE


def _image_ids(generation_id: UUID) -> list[UUID]:
    generation = Generation.objects.get(pk=generation_id)
    require_succeeded(generation)
    return list(generation.images.order_by("index").values_list("pk", flat=True))


def _completed_sse(image_id: UUID, kind: str, base: str) -> bytes:
    # Encoded in the thread too: an image's b64_json is megabytes of JSON.
    return sse(f"{kind}.completed", completed_event(image_id, kind, base))


def completed_event(image_id: UUID, kind: str, base: str) -> dict[str, Any]:
    """An ImageGenCompletedEvent / ImageEditCompletedEvent for one stored image."""
    image = Image.objects.get(pk=image_id)
    with image.file.open("rb") as fh:
        b64 = base64.b64encode(fh.read()).decode("ascii")
    return {
        "type": f"{kind}.completed",
        "b64_json": b64,
        "created_at": int(time.time()),
        "size": f"{image.width}x{image.height}",
        "output_format": _FORMATS.get(image.format, image.format.lower()),
        # These models have no quality or background setting to report.
        "quality": "auto",
        "background": "auto",
        "usage": _NO_USAGE,
        # Ours, beyond OpenAI's fields: the stored copy's signed URL, as in non-streamed answers.
        "url": image_url(image, base),
    }
