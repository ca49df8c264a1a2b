"""The official openai SDK, unchanged, against a real server, worker and simulator.

No test here stops a process: the module shares one simulator, worker and API server
(tests/live.py `live_processes`); the simulator is reset before each test and the worker
has finished each test's jobs before the next begins."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types import ImageEditCompletedEvent, ImageGenCompletedEvent
from PIL import Image as PILImage

from accounts.api_keys import api_key_issue
from accounts.quota import quota_status
from accounts.webhooks import webhook_signing_secret
from generations.models import Generation
from tests.images import png_bytes
from tests.live import (
    LiveProcesses,
    Simulator,
    Worker,
    sharing_live_simulator,  # noqa: F401  (fixture: one simulator for the module)
    sharing_live_worker,  # noqa: F401  (fixture: one worker for the module)
)
from tests.live_api import ApiServer, running_api

DEV = "black-forest-labs/flux.1-dev"
KPRO = "black-forest-labs/flux-kontext-pro"
MULTI = "black-forest-labs/flux-kontext-pro/multi"
pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def live_processes_env() -> dict[str, str]:
    """The webhook test's receiver listens on loopback: the worker and server may call it."""
    return {"DARKROOM_FETCH_ALLOW_HOSTS": "127.0.0.1"}


@pytest.fixture(scope="module")
def module_api(
    live_processes: LiveProcesses, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    from django.conf import settings

    live = live_processes
    extra = {"MEDIA_ROOT": str(live.media_root), **live.extra_env}
    log = tmp_path_factory.mktemp("api") / "api.log"
    with running_api(settings, live.simulator, live.redis_url, log, extra) as server:
        yield server


@pytest.fixture
def live_api(live_worker: Worker, module_api: ApiServer) -> ApiServer:
    assert module_api.proc.poll() is None, f"the API server died:\n{module_api.output()[-3000:]}"
    return module_api


@pytest.fixture
def key(user: Any) -> str:
    return api_key_issue(user=user, name="sdk")[1]


@pytest.fixture
def client(live_api: ApiServer, key: str) -> OpenAI:
    return OpenAI(base_url=live_api.url, api_key=key, timeout=120)


def size_of(data: bytes) -> tuple[int, int]:
    with PILImage.open(io.BytesIO(data)) as img:
        return img.size


def test_it_generates_two_images_whose_urls_work_without_a_session(
    client: OpenAI, user: Any, key: str
) -> None:
    result = client.images.generate(
        model=DEV, prompt="a lighthouse at dusk", n=2, size="512x384", extra_body={"seed": 7}
    )

    assert len(result.data) == 2
    assert isinstance(result.created, int)
    bodies = [httpx.get(item.url, timeout=30) for item in result.data if item.url]
    assert [(r.status_code, r.headers["content-type"]) for r in bodies] == [(200, "image/png")] * 2
    assert [size_of(r.content) for r in bodies] == [(512, 384)] * 2
    generation = Generation.objects.get(user=user)  # in the person's history
    assert (generation.source, generation.api_key.prefix) == ("api", key.partition(".")[0])
    assert generation.params["seed"] == 7


def test_it_answers_b64_json_with_the_stored_bytes(
    live_api: ApiServer, key: str, user: Any
) -> None:
    async def generate() -> Any:
        async with AsyncOpenAI(base_url=live_api.url, api_key=key, timeout=120) as client:
            return await client.images.generate(
                model=DEV, prompt="a red fox", size="256x256", response_format="b64_json"
            )

    result = asyncio.run(generate())

    data = base64.b64decode(result.data[0].b64_json or "")
    image = Generation.objects.get(user=user).images.get()
    with image.file.open("rb") as fh:
        assert data == fh.read()
    assert size_of(data) == (256, 256)


def test_it_edits_with_one_image_and_with_two_for_a_multi_model(
    client: OpenAI, live_simulator: Simulator, user: Any
) -> None:
    one = client.images.edit(model=KPRO, image=png_bytes(64, 64), prompt="make it night")
    two = client.images.edit(
        model=MULTI,
        image=[png_bytes(64, 64), png_bytes(32, 48, "red")],
        prompt="put the cat on the sofa",
        extra_body={"seed": 3},
    )

    assert len(one.data) == 1
    assert len(two.data) == 1
    kpro, multi = (Generation.objects.get(user=user, model=m) for m in (KPRO, MULTI))
    assert [r.param for r in kpro.references.all()] == ["image"]
    assert [(r.param, r.width, r.height) for r in multi.references.order_by("position")] == [
        ("images", 64, 64),
        ("images", 32, 48),
    ]
    sent = [r for r in live_simulator.requests() if (r.get("json") or {}).get("model") == MULTI]
    assert len(sent[-1]["json"]["images"]) == 2


def test_it_streams_one_completed_event_per_image_through_the_sdk(
    client: OpenAI, user: Any
) -> None:
    stream = client.images.generate(
        model=DEV, prompt="a lighthouse", n=2, size="256x256", stream=True, partial_images=2
    )
    events = list(stream)

    assert [type(e) for e in events] == [ImageGenCompletedEvent] * 2
    assert [(e.type, e.size, e.output_format) for e in events] == [
        ("image_generation.completed", "256x256", "png")
    ] * 2
    stored = []
    for image in Generation.objects.get(user=user).images.order_by("index"):
        with image.file.open("rb") as fh:
            stored.append(fh.read())
    assert [base64.b64decode(e.b64_json) for e in events] == stored
    status = quota_status(user=user, model=DEV)
    assert (status.used, status.reserved) == (2, 0)


def test_it_streams_an_edit_through_the_async_sdk(live_api: ApiServer, key: str) -> None:
    async def edit() -> list[Any]:
        async with AsyncOpenAI(base_url=live_api.url, api_key=key, timeout=120) as client:
            stream = await client.images.edit(
                model=KPRO, image=png_bytes(64, 64), prompt="make it night", stream=True
            )
            return [event async for event in stream]

    events = asyncio.run(edit())

    assert [type(e) for e in events] == [ImageEditCompletedEvent]
    width, height = size_of(base64.b64decode(events[0].b64_json))
    assert events[0].size == f"{width}x{height}"


def test_it_raises_a_failed_jobs_error_from_the_stream_and_refunds(
    client: OpenAI, live_simulator: Simulator, user: Any
) -> None:
    live_simulator.fault("moderation")
    stream = client.images.generate(model=DEV, prompt="x", size="256x256", stream=True)

    with pytest.raises(openai.APIError) as failed:
        list(stream)

    assert not isinstance(failed.value, openai.APIStatusError)  # accepted, then an error event
    job = Generation.objects.get(user=user)
    assert failed.value.body == {
        "message": f"The job {job.pk} failed: {job.error_message}",
        "type": "invalid_request_error",
        "param": None,
        "code": "moderation_blocked",
    }
    assert failed.value.code == "moderation_blocked"
    status = quota_status(user=user, model=DEV)
    assert (status.used, status.reserved) == (0, 0)


@pytest.fixture
def limited_api(
    live_worker: Worker, live_simulator: Simulator, redis_url: str, settings: Any, tmp_path: Any
) -> Iterator[ApiServer]:
    settings.DARKROOM_API_RATE_LIMIT = 1
    with running_api(settings, live_simulator, redis_url, tmp_path / "api.log") as server:
        yield server


def test_it_raises_rate_limit_error_past_the_keys_requests_per_minute(
    limited_api: ApiServer, key: str
) -> None:
    client = OpenAI(base_url=limited_api.url, api_key=key, timeout=120, max_retries=0)
    outcomes: list[Any] = []
    # Three quick calls: even if a minute boundary falls between them, one is over a limit of 1.
    for _ in range(3):
        try:
            outcomes.append(
                client.images.generate(
                    model=DEV, prompt="x", size="256x256", extra_headers={"Prefer": "respond-async"}
                )
            )
        except openai.RateLimitError as exc:
            outcomes.append(exc)

    limited = [o for o in outcomes if isinstance(o, openai.RateLimitError)]
    assert not isinstance(outcomes[0], Exception)
    assert limited
    assert {(e.code, e.type) for e in limited} == {("rate_limit_exceeded", "requests")}
    headers = limited[0].response.headers
    assert headers["x-should-retry"] == "true"
    assert 1 <= int(headers["retry-after"]) <= 60


def test_a_finished_call_tells_the_sdk_its_quota_and_the_docs_speak_the_readers_language(
    client: OpenAI, live_api: ApiServer, key: str
) -> None:
    raw = client.images.with_raw_response.generate(model=DEV, prompt="a lighthouse", n=2)

    assert len(raw.parse().data) == 2
    assert (raw.headers["x-darkroom-quota-limit"], raw.headers["x-darkroom-quota-remaining"]) == (
        "10",
        "8",
    )
    quota = httpx.get(f"{live_api.url}/quota", headers={"Authorization": f"Bearer {key}"})
    assert {row["model"]: row["used"] for row in quota.json()["data"]}[DEV] == 2
    # /v1/docs is a portal page: through the real ASGI app it gets the session's language.
    docs = httpx.get(f"{live_api.url}/docs", cookies={"django_language": "zh-hans"})
    assert docs.status_code == 200
    assert '<html lang="zh-hans">' in docs.text


def test_it_lists_models(client: OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert DEV in ids
    assert MULTI in ids
    assert client.models.retrieve(MULTI).owned_by == "black-forest-labs"


def test_it_raises_the_sdk_error_class_and_code_for_each_refusal(
    client: OpenAI, live_api: ApiServer, user: Any
) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.images.generate(model=DEV, prompt="x", size="4096x4096")
    assert (bad.value.code, bad.value.param) == ("value_out_of_range", "size")
    assert bad.value.request_id
    assert bad.value.request_id.startswith("req_")

    with pytest.raises(openai.AuthenticationError) as wrong:
        OpenAI(base_url=live_api.url, api_key="nope.nope").images.generate(model=DEV, prompt="x")
    assert wrong.value.code == "invalid_api_key"

    narrow = api_key_issue(user=user, name="narrow", allowed_models=[KPRO])[1]
    with pytest.raises(openai.PermissionDeniedError) as forbidden:
        OpenAI(base_url=live_api.url, api_key=narrow).images.generate(model=DEV, prompt="x")
    assert forbidden.value.code == "model_not_allowed"

    client.images.generate(model=DEV, prompt="x", n=4, size="256x256")
    client.images.generate(model=DEV, prompt="x", n=4, size="256x256")
    with pytest.raises(openai.RateLimitError) as spent:
        client.images.generate(model=DEV, prompt="x", n=4, size="256x256")
    assert spent.value.code == "insufficient_quota"
    assert spent.value.body == {  # the SDK hands over the error object itself
        "message": f"Not enough free images left for {DEV}: 4 requested, 2 left.",
        "type": "insufficient_quota",
        "param": "n",
        "code": "insufficient_quota",
    }
    status = quota_status(user=user, model=DEV)
    assert (status.used, status.reserved) == (8, 0)  # refusals spent nothing, none retried


@pytest.mark.parametrize(
    ("fault", "code"), [("moderation", "moderation_blocked"), ("bad_request", "invalid_request")]
)
def test_a_request_refused_for_itself_is_sent_to_one_channel_only(
    client: OpenAI, live_simulator: Simulator, user: Any, fault: str, code: str
) -> None:
    live_simulator.fault(fault, times=-1)  # every channel would refuse it again
    with pytest.raises(openai.APIStatusError) as refused:
        client.images.generate(model=DEV, prompt=f"refused {fault}", size="256x256")

    assert refused.value.code == code
    calls = [
        r
        for r in live_simulator.requests()
        if r["method"] == "POST" and "refused" in str(r.get("json")) and "/_sim/" not in r["path"]
    ]
    job = Generation.objects.get(user=user)
    assert len(calls) == 1, [r["path"] for r in calls]  # no fail-over for the request's fault
    assert [(a["channel"], a["ok"]) for a in job.attempts] == [("modelverse", False)]
    status = quota_status(user=user, model=DEV)
    assert (status.used, status.reserved) == (0, 0)


def test_it_creates_one_job_for_twenty_concurrent_retries(
    live_api: ApiServer, key: str, user: Any
) -> None:
    body = {"model": DEV, "prompt": "only once", "n": 2, "size": "256x256"}
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())}

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as http:
            return await asyncio.gather(
                *(
                    http.post(f"{live_api.url}/images/generations", json=body, headers=headers)
                    for _ in range(20)
                )
            )

    responses = asyncio.run(send_all())

    assert {r.status_code for r in responses} == {200}
    assert len({json.dumps(r.json()["data"]) for r in responses}) == 1
    assert Generation.objects.filter(user=user).count() == 1
    status = quota_status(user=user, model=DEV)
    assert (status.used, status.reserved) == (2, 0)
    clash = httpx.post(
        f"{live_api.url}/images/generations", json={**body, "n": 1}, headers=headers, timeout=30
    )
    assert clash.status_code == 409
    assert clash.headers["x-should-retry"] == "false"


class _Receiver(BaseHTTPRequestHandler):
    got: list[tuple[bytes, dict[str, str]]] = []
    arrived = threading.Event()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append((body, dict(self.headers.items())))
        self.send_response(204)
        self.end_headers()
        type(self).arrived.set()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(settings: Any) -> Iterator[str]:
    """A local webhook receiver; loopback is allowed for this module's processes
    (`live_processes_env`) and in this process for this test only."""
    settings.DARKROOM_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Receiver.got, _Receiver.arrived = [], threading.Event()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_it_answers_202_then_serves_the_job_and_calls_a_signed_webhook(
    receiver: str, live_api: ApiServer, live_worker: Worker, key: str, user: Any, settings: Any
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    accepted = httpx.post(
        f"{live_api.url}/images/generations",
        headers={**auth, "Prefer": "respond-async"},
        json={"model": DEV, "prompt": "later", "size": "256x256", "webhook_url": receiver},
        timeout=30,
    )
    assert accepted.status_code == 202
    job_id = accepted.json()["id"]

    assert _Receiver.arrived.wait(60), f"no webhook arrived:\n{live_worker.output()[-3000:]}"
    body, headers = _Receiver.got[0]
    OpenAI(api_key="unused").webhooks.verify_signature(
        body, headers, secret=webhook_signing_secret(user)
    )
    notice = json.loads(body)
    assert (notice["type"], notice["data"]["id"]) == ("image.job.succeeded", job_id)
    job = httpx.get(f"{live_api.url}/images/jobs/{job_id}", headers=auth, timeout=30).json()
    assert job["status"] == "succeeded"
    assert job["data"] == notice["data"]["data"]
    assert httpx.get(job["data"][0]["url"], timeout=30).status_code == 200
