"""/v1 at its edges, through the deployed ASGI application (config.asgi): a host we do not
serve, numbers no parser should take, bodies over the limit or without a key, large
b64_json answers, and links and keys that must end when access ends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from accounts.api_keys import api_key_issue
from generations.sync import run_sync
from tests.portal_helpers import FLUX_DEV, make_generation
from tests.test_api_bad_inputs import assert_nothing_spent

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]
KONTEXT = "black-forest-labs/flux-kontext-max/text-to-image"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def key(user: Any) -> str:
    return (await run_sync(api_key_issue, user=user, name="edges"))[1]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    from config.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- 13. bad input is a 4xx --------------------------------------------------------------


async def test_a_host_we_do_not_serve_is_a_400_the_sdk_does_not_retry(
    http: httpx.AsyncClient, key: str, user: Any, enqueued: list
) -> None:
    response = await http.post(
        "/v1/images/generations",
        json={"model": FLUX_DEV, "prompt": "a kite"},
        headers={**_auth(key), "Host": "evil.example"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "The Host header names a host this server does not serve.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_host",
        }
    }
    assert response.headers["x-should-retry"] == "false"
    await assert_nothing_spent(user, FLUX_DEV)
    assert enqueued == []


@pytest.mark.parametrize("field", ["n", "seed"])
async def test_a_5000_digit_number_is_a_400_that_spends_nothing(
    http: httpx.AsyncClient, key: str, user: Any, enqueued: list, field: str
) -> None:
    digits = "7" * 5000
    for body in (
        {"model": FLUX_DEV, "prompt": "a kite", field: digits},  # a string
        f'{{"model": "{FLUX_DEV}", "prompt": "a kite", "{field}": {digits}}}',  # a number
    ):
        content = body if isinstance(body, str) else json.dumps(body)
        response = await http.post(
            "/v1/images/generations",
            content=content,
            headers={**_auth(key), "Content-Type": "application/json"},
        )
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert len(error["message"]) < 200
    await assert_nothing_spent(user, FLUX_DEV)
    assert enqueued == []


# --- 14. large answers and bodies --------------------------------------------------------


async def _raw(
    path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[int, dict[str, Any], int]:
    """Call the ASGI app directly: (status, body, how many body chunks it asked for)."""
    from config.asgi import application

    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if asked >= len(chunks):
            await asyncio.sleep(3600)  # a client that stopped sending
        asked += 1
        return {"type": "http.request", "body": chunks[asked - 1], "more_body": asked < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    await asyncio.wait_for(application(scope, receive, send), timeout=60)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body), asked


async def test_a_body_declared_over_the_limit_is_a_413_before_a_byte_is_read(
    key: str, settings: Any, user: Any
) -> None:
    settings.DARKROOM_API_MAX_BODY_BYTES = 1000
    headers = [
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", b"5000"),
    ]
    status, body, asked = await _raw("/v1/images/generations", headers, [b"x" * 5000])
    assert (status, asked) == (413, 0)
    assert body["error"]["code"] == "request_too_large"
    assert "1000 bytes" in body["error"]["message"]
    await assert_nothing_spent(user, FLUX_DEV)


async def test_a_body_that_grows_past_the_limit_is_cut_off_there(
    key: str, settings: Any, user: Any
) -> None:
    settings.DARKROOM_API_MAX_BODY_BYTES = 1000
    headers = [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json")]
    chunks = [b" " * 400] * 10  # no Content-Length: 4000 bytes in all, chunked
    status, body, asked = await _raw("/v1/images/generations", headers, chunks)
    assert status == 413
    assert body["error"]["code"] == "request_too_large"
    assert asked == 3  # 1200 bytes: past the limit, nothing more read
    await assert_nothing_spent(user, FLUX_DEV)


@pytest.mark.parametrize("authorization", [None, b"Bearer dr-nope.nope"])
async def test_a_request_without_a_valid_key_is_a_401_without_reading_the_body(
    authorization: bytes | None,
) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"20")]
    if authorization:
        headers.append((b"authorization", authorization))
    status, body, asked = await _raw("/v1/images/generations", headers, [b"{}" + b" " * 18])
    assert (status, asked) == (401, 0)
    assert body["error"]["code"] == "invalid_api_key"


async def test_a_b64_json_answer_is_encoded_off_the_event_loop(
    http: httpx.AsyncClient, key: str, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import django.http.response as response_module

    generation = await run_sync(make_generation, user, images=2)
    on_loop: list[bool] = []
    real = json.dumps  # the module django.http.response encodes with

    def dumps(data: Any, **kwargs: Any) -> str:
        if '"b64_json": "' in (text := real(data, **kwargs)):  # the answer carrying images
            on_loop.append(_on_event_loop())
        return text

    monkeypatch.setattr(response_module, "json", _Json(dumps))
    response = await http.get(
        f"/v1/images/jobs/{generation.pk}",
        params={"response_format": "b64_json"},
        headers=_auth(key),
    )
    assert response.status_code == 200
    assert response.json()["data"][0]["b64_json"]
    assert on_loop == [False]


async def test_a_finished_calls_b64_json_answer_is_encoded_off_the_event_loop(
    http: httpx.AsyncClient, key: str, enqueued: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer a waiting POST gets once its job finishes: the megabytes the issue meant."""
    import django.http.response as response_module

    from generations.models import Generation
    from generations.services import generation_succeed
    from tests.images import png_bytes

    on_loop: list[bool] = []
    real = json.dumps

    def dumps(data: Any, **kwargs: Any) -> str:
        if '"b64_json": "' in (text := real(data, **kwargs)):
            on_loop.append(_on_event_loop())
        return text

    async def finish_the_job() -> None:  # stands for the worker
        while not enqueued:
            await asyncio.sleep(0.05)
        generation = await Generation.objects.aget(pk=enqueued[0])
        pngs = [png_bytes(64, 48, color="red"), png_bytes(64, 48, color="blue")]
        await run_sync(generation_succeed, generation=generation, images=pngs, channel="test")

    monkeypatch.setattr(response_module, "json", _Json(dumps))
    worker = asyncio.create_task(finish_the_job())
    body = {"model": FLUX_DEV, "prompt": "a kite", "n": 2, "response_format": "b64_json"}
    response = await http.post("/v1/images/generations", json=body, headers=_auth(key))
    await asyncio.wait_for(worker, timeout=30)
    assert response.status_code == 200, response.text
    assert [bool(d["b64_json"]) for d in response.json()["data"]] == [True, True]
    assert on_loop == [False]


class _Json:
    def __init__(self, dumps: Any) -> None:
        self.dumps = dumps


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # a worker thread: no loop running here
        return False
    return True


# --- 15. links and keys end when access ends ---------------------------------------------


async def test_an_image_link_stops_working_once_its_owner_is_deactivated(
    http: httpx.AsyncClient, key: str, user: Any
) -> None:
    generation = await run_sync(make_generation, user)
    job = (await http.get(f"/v1/images/jobs/{generation.pk}", headers=_auth(key))).json()
    link = job["data"][0]["url"].removeprefix("http://testserver")
    assert (await http.get(link)).status_code == 200
    user.is_active = False
    await user.asave(update_fields=["is_active"])
    gone = await http.get(link)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"


async def test_an_image_link_stops_working_once_its_owner_is_erased(
    http: httpx.AsyncClient, key: str, user: Any, admin_user: Any
) -> None:
    from generations.erasure import erase_person

    generation = await run_sync(make_generation, user)
    job = (await http.get(f"/v1/images/jobs/{generation.pk}", headers=_auth(key))).json()
    link = job["data"][0]["url"].removeprefix("http://testserver")
    await run_sync(erase_person, actor=admin_user, user=user)
    assert (await http.get(link)).status_code == 404


async def test_image_links_last_a_week_by_default(settings: Any) -> None:
    from config import settings as defaults

    assert defaults.DARKROOM_API_URL_MAX_AGE == 7 * 24 * 3600 == settings.DARKROOM_API_URL_MAX_AGE


async def test_a_key_limited_to_some_models_reads_only_their_jobs(
    http: httpx.AsyncClient, user: Any
) -> None:
    other = await run_sync(make_generation, user, model=KONTEXT)
    mine = await run_sync(make_generation, user, model=FLUX_DEV)
    _, limited = await run_sync(
        api_key_issue, user=user, name="dev only", allowed_models=[FLUX_DEV]
    )
    assert (await http.get(f"/v1/images/jobs/{mine.pk}", headers=_auth(limited))).status_code == 200
    hidden = await http.get(f"/v1/images/jobs/{other.pk}", headers=_auth(limited))
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "not_found"
