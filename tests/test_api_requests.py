"""/v1 requests through Django's async test client: parsing, errors, keys, jobs, URLs.

No worker here: jobs are captured by `enqueued` and finished by hand.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import SyncToAsync
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.test import AsyncClient
from django.utils import timezone

from accounts.api_keys import api_key_issue
from generations.models import Generation, IdempotencyRecord
from generations.services import generation_succeed
from generations.sync import run_sync
from tests.images import data_url, png_bytes

DEV = "black-forest-labs/flux.1-dev"
MULTI = "black-forest-labs/flux-kontext-pro/multi"
KTEXT = "black-forest-labs/flux-kontext-pro/text-to-image"
ASYNC = {"Prefer": "respond-async"}

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
    # The async ORM calls in these tests run on asgiref's one shared thread: close its
    # connection, or the test database cannot be dropped at the end.
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture
def key(user: Any) -> str:
    return api_key_issue(user=user, name="test")[1]


class KeyClient(AsyncClient):
    """Sends the key on every request, as the SDK does."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def generic(  # type: ignore[override]
        self, *args: Any, headers: dict | None = None, **kwargs: Any
    ) -> Any:
        return super().generic(
            *args, headers={"Authorization": f"Bearer {self.key}", **(headers or {})}, **kwargs
        )


@pytest.fixture
def client(key: str) -> AsyncClient:
    return KeyClient(key)


def upload(name: str = "upload", **kwargs: Any) -> SimpleUploadedFile:
    # The SDK names raw bytes "upload" with a generic type: we must sniff the bytes.
    return SimpleUploadedFile(name, png_bytes(**kwargs), content_type="application/octet-stream")


async def only_generation() -> Generation:
    return await Generation.objects.select_related("api_key").aget()


async def reference_sizes(generation: Generation) -> list[tuple[str, int, int]]:
    refs = generation.references.order_by("param", "position")
    return [(r.param, r.width, r.height) async for r in refs]


async def test_it_queues_a_json_generation_with_string_and_extra_body_values(
    client: AsyncClient, enqueued: list
) -> None:
    response = await client.post(
        "/v1/images/generations",
        {
            "model": DEV,
            "prompt": "a fox",
            "n": "2",
            "size": "512x256",
            "seed": "7",
            "guidance_scale": "3.5",
            "user": "u-1",
        },
        content_type="application/json",
        headers=ASYNC,
    )
    assert response.status_code == 202
    generation = await only_generation()
    assert response.json()["id"] == str(generation.pk)
    assert enqueued == [str(generation.pk)]
    assert (generation.source, generation.n) == ("api", 2)
    assert generation.api_key is not None
    assert {k: generation.params[k] for k in ("size", "seed", "guidance_scale")} == {
        "size": "512x256",
        "seed": 7,
        "guidance_scale": 3.5,
    }
    assert response["Location"] == f"/v1/images/jobs/{generation.pk}"


@pytest.mark.parametrize("field", ["image", "image[]"])
async def test_it_takes_several_images_as_image_or_image_brackets(
    client: AsyncClient, enqueued: list, field: str
) -> None:
    response = await client.post(
        "/v1/images/edits",
        {
            field: [upload(width=40, height=30), upload(width=20, height=10)],
            "prompt": "merge",
            "model": MULTI,
            "seed": "5",
        },
        headers=ASYNC,
    )
    assert response.status_code == 202, response.json()
    generation = await only_generation()
    assert await reference_sizes(generation) == [("images", 40, 30), ("images", 20, 10)]
    assert generation.params["seed"] == 5


async def test_it_takes_one_image_part_for_a_single_image_model(
    client: AsyncClient, enqueued: list
) -> None:
    response = await client.post(
        "/v1/images/edits",
        {
            "image": upload(width=33, height=44),
            "prompt": "paint it",
            "model": DEV,
            "n": "1",
            "strength": "0.5",
        },
        headers=ASYNC,
    )
    assert response.status_code == 202, response.json()
    generation = await only_generation()
    assert await reference_sizes(generation) == [("image", 33, 44)]
    assert generation.params["strength"] == 0.5


async def test_it_takes_the_json_images_form(client: AsyncClient, enqueued: list) -> None:
    images = [{"image_url": data_url(png_bytes(12, 34))}, {"image_url": data_url(png_bytes(5, 6))}]
    response = await client.post(
        "/v1/images/edits",
        {"model": MULTI, "prompt": "merge", "images": images},
        content_type="application/json",
        headers=ASYNC,
    )
    assert response.status_code == 202, response.json()
    assert await reference_sizes(await only_generation()) == [("images", 12, 34), ("images", 5, 6)]


async def test_it_maps_size_to_aspect_ratio_for_a_model_without_size(
    client: AsyncClient, enqueued: list
) -> None:
    response = await client.post(
        "/v1/images/generations",
        {"model": KTEXT, "prompt": "wide", "size": "1792x1024"},
        content_type="application/json",
        headers=ASYNC,
    )
    assert response.status_code == 202, response.json()
    assert (await only_generation()).params["aspect_ratio"] == "16:9"


async def test_it_refuses_two_images_for_a_single_image_model_naming_the_param(
    client: AsyncClient, enqueued: list
) -> None:
    response = await client.post(
        "/v1/images/edits",
        {"image[]": [upload(), upload()], "prompt": "x", "model": DEV},
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": f"The model {DEV} takes one image; 2 were given.",
            "type": "invalid_request_error",
            "param": "image",
            "code": "invalid_image_count",
        }
    }
    assert response["x-should-retry"] == "false"
    assert response["x-request-id"].startswith("req_")
    assert enqueued == []


async def test_it_answers_a_bad_size_with_the_whole_envelope(client: AsyncClient) -> None:
    response = await client.post(
        "/v1/images/generations",
        {"model": DEV, "prompt": "x", "size": "4096x4096"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "'size' must be between 256x256 and 1536x1536; got '4096x4096'.",
            "type": "invalid_request_error",
            "param": "size",
            "code": "value_out_of_range",
        }
    }


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."),
        ({"Authorization": "Bearer nope.nope"}, "Incorrect API key provided."),
    ],
)
async def test_it_refuses_a_missing_or_wrong_key(headers: dict, message: str) -> None:
    response = await AsyncClient().get("/v1/models", headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    assert response["x-should-retry"] == "false"


async def test_it_refuses_a_revoked_an_expired_key_and_a_deactivated_user(
    user: Any, client: AsyncClient, key: str
) -> None:
    assert (await client.get("/v1/models")).status_code == 200
    prefix = key.partition(".")[0]
    await user.api_keys.filter(prefix=prefix).aupdate(expiry_date=timezone.now() - timedelta(1))
    assert (await client.get("/v1/models")).status_code == 401
    await user.api_keys.filter(prefix=prefix).aupdate(expiry_date=None, revoked=True)
    assert (await client.get("/v1/models")).status_code == 401
    raw = (await run_sync(api_key_issue, user=user, name="second"))[1]
    user.is_active = False
    await user.asave()
    response = await KeyClient(raw).get("/v1/models")
    assert response.status_code == 401


async def test_it_lists_only_the_models_a_key_allows(user: Any) -> None:
    raw = (await run_sync(api_key_issue, user=user, name="k", allowed_models=[DEV]))[1]
    client = KeyClient(raw)
    body = (await client.get("/v1/models")).json()
    assert [m["id"] for m in body["data"]] == [DEV]
    assert body["data"][0]["object"] == "model"
    assert isinstance(body["data"][0]["created"], int)
    response = await client.post(
        "/v1/images/generations", {"model": MULTI, "prompt": "x"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["error"] == {
        "message": f"This API key may not use the model '{MULTI}'.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_allowed",
    }


async def test_it_answers_unknown_models_and_paths_with_404_envelopes(client: AsyncClient) -> None:
    response = await client.post(
        "/v1/images/generations", {"model": "nope", "prompt": "x"}, content_type="application/json"
    )
    assert (response.status_code, response.json()["error"]["code"]) == (404, "model_not_found")
    response = await client.get("/v1/nothing/here")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert response["x-request-id"].startswith("req_")


async def test_it_refuses_an_exhausted_quota_with_429_and_no_retry(
    client: AsyncClient, enqueued: list
) -> None:
    body = {"model": DEV, "prompt": "x", "n": 4}
    for _ in range(2):
        assert (
            await client.post(
                "/v1/images/generations", body, content_type="application/json", headers=ASYNC
            )
        ).status_code == 202
    response = await client.post("/v1/images/generations", body, content_type="application/json")
    assert response.status_code == 429
    assert response.json()["error"] == {
        "message": f"Not enough free images left for {DEV}: 4 requested, 2 left.",
        "type": "insufficient_quota",
        "param": "n",
        "code": "insufficient_quota",
    }
    assert response["x-should-retry"] == "false"


async def test_it_replays_the_same_job_for_the_same_idempotency_key(
    client: AsyncClient, enqueued: list
) -> None:
    body = {"model": DEV, "prompt": "once", "n": 2}
    headers = {**ASYNC, "Idempotency-Key": "abc"}
    first = await client.post(
        "/v1/images/generations", body, content_type="application/json", headers=headers
    )
    again = await client.post(
        "/v1/images/generations", body, content_type="application/json", headers=headers
    )
    assert first.json()["id"] == again.json()["id"]
    assert await Generation.objects.acount() == 1
    assert set(enqueued) == {first.json()["id"]}  # one job (the replay nudged it: queued)
    other = await client.post(
        "/v1/images/generations",
        {**body, "prompt": "twice"},
        content_type="application/json",
        headers=headers,
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert other["x-should-retry"] == "false"
    assert await IdempotencyRecord.objects.acount() == 1


async def test_it_serves_a_finished_job_with_urls_that_work_until_the_image_is_deleted(
    client: AsyncClient, enqueued: list
) -> None:
    response = await client.post(
        "/v1/images/generations",
        {"model": DEV, "prompt": "x", "n": 2},
        content_type="application/json",
        headers=ASYNC,
    )
    generation = await only_generation()
    assert response.json()["status"] == "queued"
    assert response.json()["data"] is None
    pngs = [png_bytes(64, 48, color="red"), png_bytes(64, 48, color="blue")]
    await run_sync(generation_succeed, generation=generation, images=pngs, channel="test")
    # What is served is the stored file: the upstream's bytes plus Darkroom's signed manifest.
    stored = await run_sync(lambda: [i.file.read() for i in generation.images.order_by("index")])
    assert all(len(s) > len(p) for s, p in zip(stored, pngs, strict=True))

    job = (await client.get(f"/v1/images/jobs/{generation.pk}?response_format=b64_json")).json()
    assert job["status"] == "succeeded"
    assert [base64.b64decode(item["b64_json"]) for item in job["data"]] == stored
    url = job["data"][0]["url"]
    assert url.startswith("http://testserver/v1/files/images/")
    fetched = await AsyncClient().get(url.removeprefix("http://testserver"))  # no key, no session
    assert fetched.status_code == 200
    assert fetched["Content-Type"] == "image/png"
    body = [chunk async for chunk in fetched.streaming_content]  # type: ignore[attr-defined]
    assert b"".join(body) == stored[0]

    await generation.images.filter(index=0).adelete()
    gone = await AsyncClient().get(url.removeprefix("http://testserver"))
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    tampered = url.removeprefix("http://testserver").replace(":", ":x", 1)
    assert (await AsyncClient().get(tampered)).status_code == 404


async def test_it_answers_504_naming_the_job_when_the_wait_ceiling_passes(
    client: AsyncClient, enqueued: list, settings: Any
) -> None:
    settings.DARKROOM_API_WAIT_CEILING = 0.3
    response = await client.post(
        "/v1/images/generations", {"model": DEV, "prompt": "x"}, content_type="application/json"
    )
    generation = await only_generation()
    assert response.status_code == 504
    assert response.json()["error"] == {
        "message": f"The job {generation.pk} is still queued. It goes on: fetch it later with "
        f"GET /v1/images/jobs/{generation.pk}.",
        "type": "timeout_error",
        "param": None,
        "code": "wait_timeout",
    }
    assert response["x-should-retry"] == "false"


async def test_it_hides_other_peoples_jobs(other_user: Any, client: AsyncClient) -> None:
    theirs = await Generation.objects.acreate(user=other_user, model=DEV, prompt="x")
    response = await client.get(f"/v1/images/jobs/{theirs.pk}")
    assert response.status_code == 404
