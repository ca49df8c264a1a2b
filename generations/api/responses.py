"""Response bodies in OpenAI's shapes (ImagesResponse, Model list) plus our job object."""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from accounts.models import ApiKey
from generations.api.errors import WaitTimedOut
from generations.api.failures import failure_error
from generations.api.files import image_url
from generations.models import Generation, Image
from providers.catalog import CATALOG_PATH, get_catalog


def base_url(request: HttpRequest) -> str:
    return settings.DARKROOM_PUBLIC_URL or request.build_absolute_uri("/")


def image_items(generation: Generation, response_format: str, base: str) -> list[dict[str, Any]]:
    """`data` of an ImagesResponse; reads files for b64_json (call from a thread)."""
    return [_item(image, response_format, base) for image in generation.images.order_by("index")]


def _item(image: Image, response_format: str, base: str) -> dict[str, Any]:
    b64 = None
    if response_format == "b64_json":
        with image.file.open("rb") as fh:
            b64 = base64.b64encode(fh.read()).decode("ascii")
    # `url` is always there: clients that read data[0].url break on b64-only answers.
    # `id` is the portal's image id: a tool puts what it made on a board with it.
    return {
        "id": str(image.pk),
        "url": image_url(image, base),
        "b64_json": b64,
        "revised_prompt": None,
    }


def image_item(image: Image, base: str) -> dict[str, Any]:
    """One image as every /v1 answer shows it (url form), e.g. on a board."""
    return _item(image, "url", base)


def require_succeeded(generation: Generation) -> None:
    """Its failure, or that it is still going on (the wait is over), raised as an API error."""
    if generation.status == Generation.Status.FAILED:
        raise failure_error(generation)
    if generation.status != Generation.Status.SUCCEEDED:
        raise WaitTimedOut(
            f"The job {generation.pk} is still {generation.status}. It goes on: fetch it "
            f"later with GET /v1/images/jobs/{generation.pk}.",
            param=None,
        )


def images_body(generation: Generation, response_format: str, base: str) -> dict[str, Any]:
    """The finished job as an ImagesResponse, or its failure raised as an API error."""
    require_succeeded(generation)
    return {
        "created": int(generation.created_at.timestamp()),
        "data": image_items(generation, response_format, base),
    }


def job_body(generation: Generation, response_format: str, base: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(generation.pk),
        "object": "image.job",
        "status": generation.status,
        "model": generation.model,
        # What it ran with: a preset's template comes back filled.
        "prompt": generation.prompt,
        "preset": generation.preset_id,
        "created": int(generation.created_at.timestamp()),
        "completed_at": int(generation.finished_at.timestamp()) if generation.finished_at else None,
        "data": None,
        "error": None,
    }
    if generation.status == Generation.Status.SUCCEEDED:
        body["data"] = image_items(generation, response_format, base)
    elif generation.status == Generation.Status.FAILED:
        body["error"] = failure_error(generation).envelope()["error"]
    return body


def models_body(key: ApiKey) -> dict[str, Any]:
    created = int(CATALOG_PATH.stat().st_mtime)
    return {
        "object": "list",
        "data": [model_item(name, created) for name in get_catalog().names() if key.allows(name)],
    }


def model_item(name: str, created: int | None = None) -> dict[str, Any]:
    if created is None:
        created = int(CATALOG_PATH.stat().st_mtime)
    return {"id": name, "object": "model", "created": created, "owned_by": name.split("/")[0]}
